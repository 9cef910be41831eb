"""HTML pages of the Slack stand-in: the OAuth consent page and the workspace view, where each channel
shows its messages (Block Kit rendered simply) and the buttons that break or fix things."""

import datetime
import json

from sandbox.http import escape
from sandbox.pages import button, layout
from sandbox.slack.blocks import mrkdwn, render_blocks
from sandbox.slack.threads import TOMBSTONE_TEXT, channel_flow

ACCENT = "#4a154b"  # Slack aubergine
MESSAGES_SHOWN = 30  # per channel, newest last
REFRESH_MILLISECONDS = 3000
CHANNEL_FAULTS = ["channel_not_found", "is_archived", "not_in_channel", "500", "503", "timeout"]

EXTRA_CSS = """<style>
.fields{display:grid;grid-template-columns:1fr 1fr;gap:2px 16px;margin:4px 0}
.msg{border-top:1px solid #eee;padding:6px 0} .msg .when{color:#616061;font-size:11px}
.badge{display:inline-block;font-size:11px;padding:0 6px;border-radius:8px;background:#eee;margin-left:4px}
.badge.bad{background:#fde8ea} .meta{font-family:monospace;font-size:11px;color:#616061}
.msg{overflow-wrap:anywhere} .msg-head{display:flex;flex-wrap:wrap;gap:4px 8px;align-items:baseline}
.edited{color:#616061;font-size:12px} .tombstone{color:#616061;font-style:italic}
.thread{margin:4px 0 0 12px;padding-left:12px;border-left:3px solid #e1e4e8}
.thread>summary{cursor:pointer;color:#1264a3;font-size:13px;font-weight:600;padding:2px 0}
.thread .msg{padding:4px 0} .context-line{color:#616061;font-size:12px}
button.small{font-size:11px;padding:1px 6px} .msg-head form{margin-left:auto}
</style>"""

# Threads someone opened stay open across refreshes.
REFRESH_SCRIPT = f"""<script>
setInterval(function(){{
  var a=document.activeElement; if(a&&(a.tagName==='INPUT'||a.tagName==='SELECT'))return;
  fetch('/?fragment=1').then(function(r){{return r.text()}}).then(function(t){{
    var open=[].map.call(document.querySelectorAll('details[open][id]'),function(d){{return d.id}});
    document.getElementById('live').innerHTML=t;
    open.forEach(function(id){{var d=document.getElementById(id); if(d)d.open=true}});
  }});
}},{REFRESH_MILLISECONDS});
</script>"""


def message_page(title: str, text: str) -> str:
    return layout("Slack sandbox", f"<div class=card><h2>{escape(title)}</h2><p>{escape(text)}</p></div>", ACCENT)


def authorize_page(app_name: str, team: dict, params: dict, scopes: list[str]) -> str:
    hidden = "".join(f"<input type=hidden name='{escape(k)}' value='{escape(v)}'>" for k, v in params.items()
                     if k in ("client_id", "scope", "user_scope", "redirect_uri", "state", "team"))
    items = "".join(f"<li><code>{escape(s)}</code></li>" for s in scopes)
    body = f"""<div class=card>
<h2>{escape(app_name)} is requesting permission to access the {escape(team['name'])} Slack workspace</h2>
<p class=muted>What will {escape(app_name)} be able to do?</p><ul class=muted>{items}</ul>
<form method=post action='/oauth/v2/authorize'>{hidden}
<div class=row><button name=decision value=cancel>Cancel</button>
<button class=primary name=decision value=allow>Allow</button></div></form>
<p class=muted>This is the Slack sandbox: no real workspace is involved.</p></div>"""
    return layout("Slack sandbox", body, ACCENT)


def _when(ts: str) -> str:
    return datetime.datetime.fromtimestamp(float(ts)).strftime("%H:%M:%S")


def _clicker(channel_id: str, ts: str):
    def act(element: dict, style: str, label: str) -> str:
        fields = {"channel": channel_id, "ts": ts, "action_id": element.get("action_id", "")}
        hidden = "".join(f"<input type=hidden name='{k}' value='{escape(v)}'>" for k, v in fields.items())
        return (f"<form class=inline method=post action='/_control/interact'>{hidden}"
                f"<button class='{style}' data-action-id='{escape(fields['action_id'])}'>{label}</button></form>")
    return act


def _message(message: dict, channel_id: str = "", note: str = "") -> str:
    """One message: its time and ts, Slack's "(edited)" with the last edit's time, a Delete button (someone
    deleting it in Slack), the blocks or text, metadata. `note` is a context line such as "replied to a
    thread"."""
    act = _clicker(channel_id, message["ts"]) if channel_id else None
    if message.get("deleted"):
        return f"<div class=msg><span class=when>{_when(message['ts'])}</span> " \
               f"<span class=tombstone>{escape(TOMBSTONE_TEXT)}</span></div>"
    content = render_blocks(message["blocks"], act) if message.get("blocks") else mrkdwn(message.get("text", ""))
    edited = ""
    if message.get("edited"):
        count = message.get("edit_count", 1)
        times = f", {count} edits" if count > 1 else ""
        edited = f"<span class=edited data-edit-count='{count}'>(edited {_when(message['edited']['ts'])}{times})</span>"
    person = "" if message.get("bot_id") else f"<span class=badge>{escape(message.get('user', ''))}</span>"
    delete = ""
    if channel_id:
        delete = (f"<form class=inline method=post action='/_control/messages/{escape(channel_id)}/"
                  f"{escape(message['ts'])}/delete'><button class='danger small' title='Delete this message, "
                  f"as someone in Slack could'>Delete</button></form>")
    meta = ""
    if message.get("metadata"):
        meta = f"<div class=meta>metadata {escape(message['metadata']['event_type'])}: " \
               f"{escape(json.dumps(message['metadata']['event_payload']))}</div>"
    note = f"<div class=context-line>{note}</div>" if note else ""
    return f"<div class=msg data-ts='{escape(message['ts'])}'>{note}<div class=msg-head><span class=when>" \
           f"{_when(message['ts'])} · ts {escape(message['ts'])}</span>{person}{edited}{delete}</div>" \
           f"{content}{meta}</div>"


def _snippet(message: dict | None, length: int = 60) -> str:
    text = "" if message is None else str(message.get("text") or "")
    return text if len(text) <= length else text[:length - 1] + "…"


def _thread(channel_id: str, parent: dict, replies: list[dict]) -> str:
    """A parent's replies, collapsed under "N replies" as Slack shows them."""
    if not replies:
        return ""
    count = len(replies)
    label = f"{count} repl{'y' if count == 1 else 'ies'} · last {_when(replies[-1]['ts'])}"
    shown = "".join(_message(r, channel_id, "also sent to the channel" if r.get("reply_broadcast") else "")
                    for r in replies)
    return f"<details class=thread id='thread-{escape(channel_id)}-{escape(parent['ts'])}'>" \
           f"<summary>{escape(label)}</summary>{shown}</details>"


def _channel_messages(messages: list[dict], channel_id: str) -> tuple[str, int]:
    """The channel as Slack shows it: top-level messages with their threads, and replies also sent to the
    channel marked "replied to a thread". (html, messages left out)"""
    flow = channel_flow(messages)
    by_ts = {m["ts"]: m for m in messages}
    replies: dict[str, list[dict]] = {}
    for message in messages:
        parent_ts = message.get("thread_ts")
        if parent_ts and parent_ts != message["ts"] and not message.get("deleted") and not message.get("orphan"):
            replies.setdefault(parent_ts, []).append(message)
    shown = flow[-MESSAGES_SHOWN:]
    parts = []
    for message in shown:
        parent_ts = message.get("thread_ts")
        if parent_ts and parent_ts != message["ts"]:
            parent = by_ts.get(parent_ts)
            note = f"replied to a thread: {escape(_snippet(parent))}" if parent and not parent.get("deleted") \
                else "replied to a thread"
            parts.append(_message(message, channel_id, note))
        else:
            parts.append(_message(message, channel_id) + _thread(channel_id, message, replies.get(message["ts"], [])))
    return "".join(parts), len(flow) - len(shown)


def _workspace_section(app) -> str:
    data = app.data
    tokens = data["tokens"].values()
    active = sum(1 for t in tokens if not t["revoked"])
    revoked = sum(1 for t in tokens if t["revoked"])
    faults = data["faults"]
    stats = app.workspace.stats()
    events_url = data["settings"]["events_url"]
    install = f"{active} active bot token(s), {revoked} revoked" if tokens else "The app is not installed yet."
    workspace_fault = f" <span class='badge bad'>every call answers {escape(faults['workspace'])}</span>" \
        if faults["workspace"] else ""
    sent = data["events_sent"][-1] if data["events_sent"] else None
    last_event = "" if sent is None else \
        f"<p class=muted>Last event sent: {escape(sent['type'])} → {escape(sent['status'] or sent['error'])}</p>"
    return f"""<section><h2>Workspace {escape(data['team']['name'])} <span class=muted>{escape(data['team']['id'])}</span></h2>
<p>{escape(install)}{workspace_fault}</p>
<p class=muted>Events go to {escape(events_url) if events_url else 'nowhere yet (start with --events-url)'}.</p>
<div class=row>
{button('/_control/revoke', "Revoke the bot's tokens (sends tokens_revoked)", css='danger')}
{button('/_control/uninstall', 'Uninstall the app (sends tokens_revoked and app_uninstalled)', css='danger')}
{button('/_control/events', 'Send app_uninstalled only', {'type': 'app_uninstalled'})}
{button('/_control/events', 'Send tokens_revoked only', {'type': 'tokens_revoked'})}
{button('/_control/faults', 'Workspace-wide token_revoked', {'error': 'token_revoked'})}
</div>{last_event}
<form class=row method=post action='/_control/faults'>
<label>Failure rate <input name=failure_rate size=4 value='{faults['failure_rate']}'></label>
<label>429 rate <input name=ratelimit_rate size=4 value='{faults['ratelimit_rate']}'></label>
<label>Seed <input name=seed size=8 value='{escape(faults['seed'])}'></label>
<button>Set</button></form>
<div class=row>{button('/_control/faults/clear', 'Clear all faults')}
<form class=row method=post action='/_control/channels'><input name=name placeholder='new-channel' size=14>
<label><input type=checkbox name=is_private value=true> private</label><button>Create channel</button></form></div>
{_acting_section(app)}
<p class=muted>Posts accepted {stats['posts_accepted']} · 429s sent {stats['ratelimited']} ·
timeouts {stats['timeouts']} · duplicates by delivery id {stats['duplicates']}</p></section>"""


def _acting_section(app) -> str:
    """Run /freshbooks as the workspace owner; what only they see (ephemeral answers) and their App Home."""
    notes = app.data.get("ephemerals", [])[-5:]
    shown = "".join(f"<div class=msg><span class=when>only visible to you · {escape(n['via'])}</span>"
                    f"<div>{mrkdwn(n['text'])}</div></div>" for n in reversed(notes))
    homes = app.data.get("home_views", {})
    home = "".join(f"<details><summary>App Home of {escape(user)}</summary>{render_blocks(view.get('blocks', []))}"
                   f"</details>" for user, view in homes.items())
    return (f"<form class=row method=post action='/_control/command'><code>/freshbooks</code>"
            f"<input name=text size=24 placeholder='unpaid, overdue, invoice 0001, help'>"
            f"<button>Run slash command</button></form>{shown}{home}")


def _channel_section(app, channel: dict) -> str:
    data = app.data
    badges = []
    if channel["is_private"]:
        badges.append("<span class=badge>private</span>")
    if channel["is_archived"]:
        badges.append("<span class='badge bad'>archived</span>")
    if channel["deleted"]:
        badges.append("<span class='badge bad'>deleted</span>")
    badges.append("<span class=badge>bot is a member</span>" if channel["bot_member"]
                  else "<span class='badge bad'>bot not a member</span>")
    fault = data["faults"]["channels"].get(channel["id"])
    if fault:
        what = fault["error"] or (f"HTTP {fault['status']}" if fault["status"] else f"timeout {fault['timeout']}s")
        badges.append(f"<span class='badge bad'>injected: {escape(what)}</span>")
    cid = channel["id"]
    controls = " ".join([
        button(f"/_control/channels/{cid}/{'unarchive' if channel['is_archived'] else 'archive'}",
               "Unarchive" if channel["is_archived"] else "Archive"),
        button(f"/_control/channels/{cid}/{'kick' if channel['bot_member'] else 'invite'}",
               "Remove the bot" if channel["bot_member"] else "Invite the bot"),
        button(f"/_control/channels/{cid}/delete", "Delete", css="danger") if not channel["deleted"] else "",
    ])
    options = "".join(f"<option>{k}</option>" for k in CHANNEL_FAULTS)
    fault_form = (f"<form class=inline method=post action='/_control/faults'><input type=hidden name=channel "
                  f"value='{cid}'><select name=kind>{options}</select> <button>Inject</button></form>")
    clear = button("/_control/faults", "Clear fault", {"channel": cid, "clear": "true"}) if fault else ""
    rename = (f"<form class=inline method=post action='/_control/channels/{cid}/rename'>"
              f"<input name=name size=12 placeholder='new name'> <button>Rename</button></form>")
    shown, earlier = _channel_messages(data["messages"][cid], cid)
    shown = shown or "<p class=muted>No messages yet.</p>"
    more = f"<p class=muted>{earlier} earlier message(s) not shown.</p>" if earlier > 0 else ""
    return f"""<section id='channel-{cid}'><h2>#{escape(channel['name'])} <span class=muted>{cid}</span> {''.join(badges)}</h2>
<div class=row>{controls} {rename} {fault_form} {clear}</div>{more}{shown}</section>"""


def home_page(app, fragment: bool = False) -> str:
    channels = [c for c in app.data["channels"].values() if not c["deleted"]]
    live = _workspace_section(app) + "".join(_channel_section(app, c) for c in channels)
    if fragment:
        return live
    return layout("Slack sandbox", f"<div id=live>{live}</div>{REFRESH_SCRIPT}", ACCENT,
                  "A stand-in for Slack: messages the app posts appear here", head=EXTRA_CSS)
