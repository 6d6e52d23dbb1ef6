"""The Slack front end: slack-bolt's AsyncApp in Socket Mode or HTTP mode.

app.py        SlackBot: connection, listeners (ack first), background work
identity.py   auth.test: who the token is, shared with Bolt
translate.py  Slack payloads -> domain types and decisions (pure)
events.py     what each event does        commands.py  the slash commands
replies.py    the sink for a place        target.py    ReplyTarget (post / chat.update)
answers.py    each answer a task Stop can cancel, its buttons beside it
buttons.py    Stop / Regenerate Block Kit, state in the value   clicks.py  what a click does
native.py     chat.startStream/appendStream/stopStream, with the fallback
history.py    a thread's earlier messages on a first mention (conversations.replies)
files.py      shared files: downloaded with the bot token, sniffed, capped, or refused
assistant.py  assistant threads: status, title, suggested prompts
names.py      display names and admin flags (users.info)    recent.py  retried deliveries
failures.py   slack_sdk errors -> threadline's
"""

from adapters.slack.app import SlackBot

__all__ = ["SlackBot"]
