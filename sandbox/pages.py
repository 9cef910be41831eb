"""The plain HTML layout both stand-ins' pages share."""

from sandbox.http import escape

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d1c1d}
header{padding:12px 24px;color:#fff}
header h1{margin:0;font-size:20px} header p{margin:4px 0 0;opacity:.85;font-size:13px}
main{padding:16px 24px;max-width:1200px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:12px 16px;margin:0 0 16px}
h2{font-size:16px;margin:0 0 8px} h3{font-size:15px;margin:4px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
form.inline{display:inline;margin:0}
button{font:inherit;font-size:13px;padding:4px 10px;border-radius:4px;border:1px solid #bbb;background:#fff;cursor:pointer}
button.primary{background:#007a5a;color:#fff;border-color:#007a5a}
button.danger{background:#fff;color:#b00020;border-color:#b00020}
.muted{color:#616061;font-size:12px} .ok{color:#007a5a} .bad{color:#b00020}
.row{display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin:4px 0}
input,select{font:inherit;font-size:13px;padding:3px 6px} label{font-size:13px}
code{background:#f2f2f2;padding:1px 4px;border-radius:3px;display:inline-block;line-height:1.5}
li{margin:2px 0;line-height:1.5}
.card{max-width:440px;margin:60px auto;background:#fff;border:1px solid #ddd;border-radius:10px;padding:24px}
"""


def layout(title: str, body: str, accent: str = "#0063be", subtitle: str = "", head: str = "") -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<link rel=icon href='data:,'><style>{CSS}</style>{head}</head>"
            f"<body><header style='background:{accent}'><h1>{escape(title)}</h1>"
            f"{f'<p>{escape(subtitle)}</p>' if subtitle else ''}</header><main>{body}</main></body></html>")


def button(action: str, label: str, fields: dict | None = None, css: str = "") -> str:
    """A one-button form posting to a control endpoint (which redirects back to the page)."""
    hidden = "".join(f"<input type=hidden name='{escape(k)}' value='{escape(v)}'>"
                     for k, v in (fields or {}).items())
    return (f"<form class=inline method=post action='{escape(action)}'>{hidden}"
            f"<button class='{css}'>{escape(label)}</button></form>")
