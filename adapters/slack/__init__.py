"""The Slack front end: slack-bolt's AsyncApp in Socket Mode or HTTP mode.

app.py        SlackBot: connection, listeners (ack first), background work
translate.py  Slack payloads -> domain types and decisions (pure)
events.py     what each event does        commands.py  the slash commands
replies.py    the sink for a place        target.py    ReplyTarget (post / chat.update)
native.py     chat.startStream/appendStream/stopStream, with the fallback
history.py    a thread's earlier messages on a first mention (conversations.replies)
files.py      shared files: downloaded with the bot token, sniffed, capped, or refused
assistant.py  assistant threads: status, title, suggested prompts
names.py      display names (users.info), cached    recent.py  retried deliveries
failures.py   slack_sdk errors -> threadline's
"""

from adapters.slack.app import SlackBot

__all__ = ["SlackBot"]
