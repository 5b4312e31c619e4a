// DOM for the conversation. Every text goes in through textContent or text nodes:
// nothing from the bot or the user is ever parsed as HTML.

// Links, and ticket numbers (kept on one line: "UB-" alone at a line end is confusing).
const TOKEN = /https?:\/\/[^\s<>"'，。；、！？）)]+|UB-\d{8}-\d{4}/g;

const pad = (n) => String(n).padStart(2, "0");

export function formatTime(ms) {
  const d = new Date(ms);
  const now = new Date();
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return d.toDateString() === now.toDateString() ? hm : `${d.getMonth() + 1}月${d.getDate()}日 ${hm}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Text with http(s) links turned into <a> elements and ticket numbers into a span;
// everything else stays a text node.
export function richText(parent, text) {
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    parent.append(document.createTextNode(text.slice(last, match.index)));
    if (match[0].startsWith("UB-")) {
      parent.append(el("span", "ticket", match[0]));
    } else {
      const a = el("a", "", match[0]);
      a.href = match[0];
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      parent.append(a);
    }
    last = match.index + match[0].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

export class Conversation {
  constructor(container, typing, onChoose, onRate = null) {
    this.container = container;
    this.typing = typing;
    this.onChoose = onChoose; // (button) => void
    this.onRate = onRate; // (text, "up" | "down") => Promise<boolean>: 👍/👎 on an answer
  }

  // 👍/👎 under one of the bot's own answers; the chosen one stays marked.
  rating(text) {
    const box = el("div", "rate");
    for (const [value, face, label] of [["up", "👍", "有帮助"], ["down", "👎", "没帮助"]]) {
      const button = el("button", `rate-${value}`, face);
      button.type = "button";
      button.title = label;
      button.setAttribute("aria-label", label);
      button.addEventListener("click", async () => {
        if (!(await this.onRate(text, value))) return;
        for (const other of box.querySelectorAll("button")) other.classList.remove("chosen");
        button.classList.add("chosen");
      });
      box.append(button);
    }
    return box;
  }

  nearBottom() {
    const c = this.container;
    return c.scrollHeight - c.scrollTop - c.clientHeight < 120;
  }

  scrollDown() {
    this.container.scrollTop = this.container.scrollHeight;
  }

  insert(row, force) {
    const stick = force || this.nearBottom();
    this.container.insertBefore(row, this.typing);
    if (stick) this.scrollDown();
  }

  clear() {
    for (const row of [...this.container.querySelectorAll(".row:not(.typing)")]) row.remove();
  }

  count() {
    return this.container.querySelectorAll(".row:not(.typing)").length;
  }

  setTyping(on) {
    const stick = this.nearBottom();
    this.typing.hidden = !on;
    if (on && stick) this.scrollDown();
  }

  disableChips() {
    for (const chip of this.container.querySelectorAll(".chip")) chip.disabled = true;
  }

  // Who speaks: the bot, a call-centre agent (named), or a ticket notice.
  addBot(text, buttons, time, { active = true, agent = "", kind = "", id = "" } = {}) {
    if (id && this.container.querySelector(`[data-id="${CSS.escape(id)}"]`)) return null;
    const row = el("div", `row row-bot${kind ? ` row-${kind}` : ""}`);
    if (id) row.dataset.id = id;
    const byAgent = kind === "agent" || kind === "handoff";
    row.append(el("div", byAgent ? "avatar avatar-agent" : "avatar avatar-bot",
      kind === "agent" ? "客" : kind === "notice" ? "通" : "解"));
    const content = el("div", "content");
    const bubble = el("div", "bubble");
    richText(bubble, text || "");
    content.append(bubble);
    if (buttons && buttons.length) {
      const chips = el("div", "chips");
      for (const button of buttons) {
        const chip = el("button", "chip", button.title);
        chip.type = "button";
        chip.disabled = !active;
        chip.addEventListener("click", () => this.onChoose(button));
        chips.append(chip);
      }
      content.append(chips);
    }
    const who = kind === "agent" ? `人工客服 ${agent}`.trim()
      : kind === "notice" ? "工单进度通知" : kind === "handoff" ? "人工客服" : "解绑助手";
    const meta = el("div", "meta", `${who} ${formatTime(time)}`);
    if (!kind && this.onRate && text) meta.append(this.rating(text));
    content.append(meta);
    row.append(content);
    this.insert(row, false);
    return row;
  }

  addUser(text, time, { id = "", pending = false } = {}) {
    const row = el("div", pending ? "row row-user pending" : "row row-user");
    if (id) row.dataset.id = id;
    row.append(el("div", "avatar", "我"));
    const content = el("div", "content");
    const bubble = el("div", "bubble");
    richText(bubble, text);
    const meta = el("div", "meta", formatTime(time));
    if (pending) meta.append(el("span", "state", " · 等待发送"));
    content.append(bubble, meta);
    row.append(content);
    this.insert(row, true);
    return row;
  }

  markSent(id) {
    for (const row of this.container.querySelectorAll(".row-user.pending")) {
      if (row.dataset.id !== id) continue;
      row.classList.remove("pending");
      row.querySelector(".state")?.remove();
    }
  }

  // Replace everything with the history from the server plus the unsent messages.
  render(history, outbox) {
    this.clear();
    let lastUser = -1;
    history.forEach((m, i) => { if (m.from === "user") lastUser = i; });
    history.forEach((m, i) => {
      const time = m.time ? m.time * 1000 : Date.now();
      if (m.from === "user") this.addUser(m.text, time);
      else this.addBot(m.text, m.buttons, time, {
        active: i > lastUser && !outbox.length, agent: m.agent || "", kind: m.kind || "",
        id: m.id || "",
      });
    });
    for (const item of outbox) {
      if (!item.hidden) this.addUser(item.display || item.text, item.time, { id: item.id, pending: true });
    }
    this.scrollDown();
  }
}
