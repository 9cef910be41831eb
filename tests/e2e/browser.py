"""A person at a browser, as far as the end-to-end tests need one: a requests.Session that reads the forms of
the page it is on and submits them the way a browser would (hidden inputs, CSRF token, the pressed button's
name and value, relative actions, redirects followed across hosts)."""

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

TIMEOUT = 30  # seconds for one page (the OAuth callbacks talk to the stand-ins before answering)


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    selects: dict[str, list[str]] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (name, value, text)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._button: list | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form.fields[a["name"]] = a.get("value", "on")
            elif kind == "submit":
                self._form.buttons.append((a["name"], a.get("value", ""), a.get("value", "")))
            else:
                self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form.selects[self._select] = []
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._form.selects[self._select].append(value)
            if "selected" in a or self._select not in self._form.fields:
                self._form.fields[self._select] = value
        elif tag == "textarea" and a.get("name"):
            self._form.fields[a["name"]] = ""
        elif tag == "button":
            self._button = [a.get("name", ""), a.get("value", ""), ""]

    def handle_data(self, data):
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "button" and self._button is not None:
            if self._form is not None:
                name, value, text = self._button
                self._form.buttons.append((name, value, " ".join(text.split())))
            self._button = None


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
        self.page: requests.Response | None = None

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path)

    def get(self, path: str, **kw) -> requests.Response:
        self.page = self.session.get(self.url(path), timeout=TIMEOUT, **kw)
        return self.page

    def follow(self, text: str) -> requests.Response:
        """Clicks the link of the current page whose text is `text`."""
        assert self.page is not None, "no page open"
        for href, inner in re.findall(r"<a\b[^>]*\bhref=[\"']([^\"']+)[\"'][^>]*>(.*?)</a>", self.page.text, re.S):
            if " ".join(re.sub(r"<[^>]+>", "", inner).split()) == text:
                return self.get(urljoin(self.page.url, html.unescape(href)))
        raise AssertionError(f"no link {text!r} on {self.page.url}")

    def submit(self, *, action: str | None = None, button: str | None = None, data: dict | None = None,
               page: requests.Response | None = None) -> requests.Response:
        """Submits the form of the current page whose action contains `action` (and that has a button whose
        text is `button`), with `data` typed into it, pressing that button."""
        page = page or self.page
        assert page is not None, "no page open"
        candidates = [f for f in forms_of(page.text)
                      if (action is None or action in f.action)
                      and (button is None or any(text == button for _, _, text in f.buttons))]
        assert candidates, f"no form (action~{action!r}, button {button!r}) on {page.url}:\n{page.text[:3000]}"
        form = candidates[0]
        payload = dict(form.fields)
        for name, value, text in form.buttons:
            if name and (button is None or text == button):
                payload[name] = value
                break
        for name, value in (data or {}).items():
            if name in form.selects and value not in form.selects[name]:
                raise AssertionError(f"{value!r} is not a choice of {name}: {form.selects[name]}")
            payload[name] = value
        target = urljoin(page.url, form.action or page.url)
        if form.method == "post":
            self.page = self.session.post(target, data=payload, timeout=TIMEOUT,
                                          headers={"Referer": page.url})
        else:
            self.page = self.session.get(target, params=payload, timeout=TIMEOUT)
        return self.page
