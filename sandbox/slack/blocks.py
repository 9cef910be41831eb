"""Block Kit for the Slack stand-in: validation roughly as Slack does it (errors carry json-pointers like
Slack's), and rendering to simple HTML for the stand-in's page."""

import re

from sandbox.http import escape

MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_URL_MAX = 3000
BUTTON_VALUE_MAX = 2000
ID_MAX = 255  # block_id and action_id
MESSAGE_TEXT_MAX = 40000  # "Provide no more than 40,000 characters"

KNOWN_BLOCK_TYPES = {"section", "header", "divider", "context", "actions", "image", "rich_text", "markdown",
                     "file", "video", "input", "context_actions", "table"}
ELEMENT_TYPES = {"button", "static_select", "external_select", "users_select", "conversations_select",
                 "channels_select", "multi_static_select", "overflow", "datepicker", "timepicker",
                 "datetimepicker", "checkboxes", "radio_buttons", "image", "workflow_button"}
TEXT_TYPES = {"plain_text", "mrkdwn"}


def validate_blocks(blocks) -> list[str]:
    """Errors in Slack's style ("... [json-pointer:/blocks/0/text]"); [] when the blocks are fine."""
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    block_ids = set()
    for index, block in enumerate(blocks):
        pointer = f"/blocks/{index}"
        if not isinstance(block, dict):
            errors.append(f"expected an object [json-pointer:{pointer}]")
            continue
        kind = block.get("type")
        if kind not in KNOWN_BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{pointer}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= ID_MAX:
                errors.append(f"must be a string of at most {ID_MAX} characters [json-pointer:{pointer}/block_id]")
            elif block_id in block_ids:
                errors.append(f"duplicate block_id [json-pointer:{pointer}/block_id]")
            block_ids.add(block_id)
        checker = _CHECKERS.get(kind)
        if checker:
            checker(block, pointer, errors)
    return errors


def _text(obj, pointer: str, errors: list, max_length: int, plain_only: bool = False) -> None:
    if not isinstance(obj, dict):
        errors.append(f"expected a text object [json-pointer:{pointer}]")
        return
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if obj.get("type") not in allowed:
        errors.append(f"must be one of {sorted(allowed)} [json-pointer:{pointer}/type]")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"must be more than 0 characters [json-pointer:{pointer}/text]")
    elif len(text) > max_length:
        errors.append(f"must be less than {max_length + 1} characters [json-pointer:{pointer}/text]")


def _element(element, pointer: str, errors: list) -> None:
    if not isinstance(element, dict) or element.get("type") not in ELEMENT_TYPES:
        errors.append(f"unsupported element type [json-pointer:{pointer}/type]")
        return
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > ID_MAX):
        errors.append(f"must be a string of at most {ID_MAX} characters [json-pointer:{pointer}/action_id]")
    if element["type"] == "button":
        _text(element.get("text"), f"{pointer}/text", errors, BUTTON_TEXT_MAX, plain_only=True)
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > BUTTON_URL_MAX):
            errors.append(f"must be less than {BUTTON_URL_MAX + 1} characters [json-pointer:{pointer}/url]")
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > BUTTON_VALUE_MAX):
            errors.append(f"must be less than {BUTTON_VALUE_MAX + 1} characters [json-pointer:{pointer}/value]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be primary or danger [json-pointer:{pointer}/style]")
    elif element["type"] == "image" and not (element.get("image_url") and element.get("alt_text")):
        errors.append(f"image_url and alt_text are required [json-pointer:{pointer}]")


def _section(block: dict, pointer: str, errors: list) -> None:
    if "text" not in block and "fields" not in block:
        errors.append(f"must provide text or fields [json-pointer:{pointer}]")
    if "text" in block:
        _text(block["text"], f"{pointer}/text", errors, SECTION_TEXT_MAX)
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list) or not fields:
            errors.append(f"must be a non-empty array [json-pointer:{pointer}/fields]")
        else:
            if len(fields) > SECTION_FIELDS_MAX:
                errors.append(f"no more than {SECTION_FIELDS_MAX} items allowed [json-pointer:{pointer}/fields]")
            for index, field in enumerate(fields):
                _text(field, f"{pointer}/fields/{index}", errors, FIELD_TEXT_MAX)
    if "accessory" in block:
        _element(block["accessory"], f"{pointer}/accessory", errors)


def _header(block: dict, pointer: str, errors: list) -> None:
    _text(block.get("text"), f"{pointer}/text", errors, HEADER_TEXT_MAX, plain_only=True)


def _context(block: dict, pointer: str, errors: list) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.append(f"must be a non-empty array [json-pointer:{pointer}/elements]")
        return
    if len(elements) > CONTEXT_ELEMENTS_MAX:
        errors.append(f"no more than {CONTEXT_ELEMENTS_MAX} items allowed [json-pointer:{pointer}/elements]")
    for index, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") == "image":
            _element(element, f"{pointer}/elements/{index}", errors)
        else:
            _text(element, f"{pointer}/elements/{index}", errors, SECTION_TEXT_MAX)


def _actions(block: dict, pointer: str, errors: list) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.append(f"must be a non-empty array [json-pointer:{pointer}/elements]")
        return
    if len(elements) > ACTIONS_ELEMENTS_MAX:
        errors.append(f"no more than {ACTIONS_ELEMENTS_MAX} items allowed [json-pointer:{pointer}/elements]")
    for index, element in enumerate(elements):
        _element(element, f"{pointer}/elements/{index}", errors)


def _image(block: dict, pointer: str, errors: list) -> None:
    if not (block.get("image_url") or block.get("slack_file")) or not block.get("alt_text"):
        errors.append(f"image_url and alt_text are required [json-pointer:{pointer}]")


_CHECKERS = {"section": _section, "header": _header, "context": _context, "actions": _actions, "image": _image}


# -- rendering ---------------------------------------------------------------------------------------

_LINK = re.compile(r"&lt;((?:https?|mailto):[^|&\s]+)(?:\|(.*?))?&gt;")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)~(?![\w~])")
_CODE = re.compile(r"`([^`\n]+)`")


def mrkdwn(text: str) -> str:
    """Slack's mrkdwn as simple HTML: links, *bold*, _italic_, ~strike~, `code`, line breaks."""
    html = escape(text)
    html = _LINK.sub(lambda m: f"<a href='{m.group(1)}' target=_blank>{m.group(2) or m.group(1)}</a>", html)
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _BOLD.sub(r"<b>\1</b>", html)
    html = _ITALIC.sub(r"<i>\1</i>", html)
    html = _STRIKE.sub(r"<s>\1</s>", html)
    return html.replace("\n", "<br>")


def _render_text(obj) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text") or "")
    return mrkdwn(text) if obj.get("type") == "mrkdwn" else escape(text).replace("\n", "<br>")


def _render_element(element: dict, act=None) -> str:
    if element.get("type") == "button":
        style = {"primary": "primary", "danger": "danger"}.get(element.get("style"), "")
        label = _render_text(element.get("text"))
        if element.get("url"):
            return f"<a href='{escape(element['url'])}' target=_blank><button class='{style}'>{label}</button></a>"
        if act is not None:  # a form that clicks it: a signed interaction to the app, as Slack sends one
            return act(element, style, label)
        return f"<button class='{style}' disabled>{label}</button>"
    if element.get("type") == "image":
        return f"<img src='{escape(element.get('image_url'))}' alt='{escape(element.get('alt_text'))}' height=16>"
    return f"<span class=muted>[{escape(element.get('type'))}]</span>"


def render_blocks(blocks: list, act=None) -> str:
    parts = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(f"<h3>{_render_text(block.get('text'))}</h3>")
        elif kind == "section":
            if block.get("text"):
                parts.append(f"<div>{_render_text(block['text'])}</div>")
            if block.get("fields"):
                cells = "".join(f"<div>{_render_text(f)}</div>" for f in block["fields"])
                parts.append(f"<div class=fields>{cells}</div>")
            if block.get("accessory"):
                parts.append(f"<div>{_render_element(block['accessory'])}</div>")
        elif kind == "context":
            items = " ".join(_render_element(e) if e.get("type") == "image" else _render_text(e)
                             for e in block.get("elements", []))
            parts.append(f"<div class=muted>{items}</div>")
        elif kind == "actions":
            parts.append("<div class=row>" + " ".join(_render_element(e, act) for e in block.get("elements", []))
                         + "</div>")
        elif kind == "divider":
            parts.append("<hr>")
        elif kind == "image":
            parts.append(f"<img src='{escape(block.get('image_url'))}' alt='{escape(block.get('alt_text'))}' "
                         "style='max-width:320px'>")
        else:
            parts.append(f"<div class=muted>[{escape(kind)} block]</div>")
    return "".join(parts)
