// Agent console: answers, tickets, conversations and the guide. Keyboard first.
// Every API call sends the bearer token and agent name kept in sessionStorage.
"use strict";

const token = sessionStorage.getItem("console.token");
const agent = sessionStorage.getItem("console.agent");
if (!token || !agent) window.location.replace("/console/login");

const $ = (id) => document.getElementById(id);
const STEP_CHOICES = ["待处理", "进行中", "已完成", "需补充材料"];
const TICKET_NO = /^\s*UB-?\d{8}-?\d{4}\s*$/i;

/** Build an element: el("p", {class: "x"}, "text", child). Text is never parsed as HTML. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function say(message) { $("status").textContent = message || ""; }

function logout() {
  sessionStorage.removeItem("console.token");
  sessionStorage.removeItem("console.agent");
  window.location.replace("/console/login");
}

async function api(path, options = {}) {
  const headers = {
    Authorization: `Bearer ${token}`,
    "X-Agent": encodeURIComponent(agent || ""),
    ...(options.body ? { "Content-Type": "application/json" } : {}),
  };
  let reply;
  try {
    reply = await fetch(path, { ...options, headers });
  } catch (err) {
    say("无法连接服务器，请稍后再试");
    return null;
  }
  if (reply.status === 401) { logout(); return null; }
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) { say(body.error || `请求失败（${reply.status}）`); return null; }
  say("");
  return body;
}

function when(iso) {
  return new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

/** `text` (starting at guide offset `base`) with [start, end) guide spans wrapped in <mark>. */
function highlighted(text, base, spans) {
  const parts = [];
  let at = 0;
  for (const [start, end] of spans) {
    const a = start - base, b = end - base;
    if (a < at || b > text.length) continue;
    parts.push(text.slice(at, a), el("mark", {}, text.slice(a, b)));
    at = b;
  }
  parts.push(text.slice(at));
  return parts;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (err) {
    const area = el("textarea", { class: "offscreen" }, text);
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

// --- tabs ---------------------------------------------------------------------------

// Pages are the nav's links; each <section data-focus> names the field that gets the focus.
// Pages kept in files of their own (handoff.js, candidates.js, …) register in
// window.consolePages: {name: {show(arg), hide()}}, before or after this file runs.
const TABS = [...document.querySelectorAll(".tabs a")].map((a) => a.dataset.tab);
window.consolePages = window.consolePages || {};
window.consolePages.guide = { show: () => loadGuide() };

function showTab(name, arg) {
  for (const tab of TABS) $(`tab-${tab}`).hidden = tab !== name;
  for (const link of document.querySelectorAll(".tabs a")) {
    link.classList.toggle("active", link.dataset.tab === name);
  }
  const pages = window.consolePages;
  for (const [page, def] of Object.entries(pages)) if (page !== name && def.hide) def.hide();
  $($(`tab-${name}`).dataset.focus).focus();
  if (pages[name] && pages[name].show) pages[name].show(arg);
}

function route() {
  const [name, arg] = window.location.hash.slice(1).split("/");
  const tab = TABS.includes(name) ? name : "answers";
  showTab(tab, arg && decodeURIComponent(arg));
  if (tab === "conversation" && arg) {
    $("sender").value = decodeURIComponent(arg);
    loadConversation();
  }
}

// --- answers ------------------------------------------------------------------------

let hits = [];
let selected = -1;

function select(index) {
  const items = $("hits").children;
  if (!items.length) return;
  selected = Math.max(0, Math.min(index, items.length - 1));
  for (let i = 0; i < items.length; i++) items[i].classList.toggle("selected", i === selected);
  items[selected].scrollIntoView({ block: "nearest" });
}

async function copySelected() {
  if (selected < 0 || !hits[selected]) return;
  const ok = await copyText(hits[selected].answer.join("\n"));
  const item = $("hits").children[selected];
  item.querySelector(".copied").textContent = ok ? "已复制" : "复制失败，请手动选择";
}

function renderHit(hit, index) {
  const why = [
    ...hit.matched_terms.map((t) => el("span", { class: "chip" }, `命中：${t}`)),
    hit.nlu_confidence !== null
      ? el("span", { class: "chip nlu" }, `NLU置信度 ${hit.nlu_confidence.toFixed(2)}`) : null,
    el("span", { class: "chip" }, `BM25 ${hit.bm25.toFixed(2)} · 综合 ${hit.score.toFixed(2)}`),
  ];
  const passages = hit.passages.map((p) =>
    el("p", { title: `指南第 ${p.start} 字起` }, "“", highlighted(p.text, p.start, p.highlights), "”"));
  return el("li", { class: "hit", "data-topic": hit.topic, onclick: () => select(index) },
    el("h2", {}, `${index + 1}. ${hit.title}`, el("span", { class: "copied" })),
    el("div", { class: "why" }, why),
    el("div", { class: "answer" }, hit.answer.join("\n")),
    el("div", { class: "passages" }, el("strong", {}, "指南原文"), passages));
}

async function search(event) {
  if (event) event.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  const body = await api(`/api/answers?q=${encodeURIComponent(q)}`);
  if (!body) return;
  hits = body.hits;
  selected = -1;
  const nlu = body.nlu.available
    ? `NLU识别意图：${body.nlu.intent || "无"}` : (body.nlu.message || "");
  $("answer-meta").textContent =
    `${hits.length} 条结果 · ${body.took_ms} ms · 检索词：${body.terms.join(" ") || "无"} · ${nlu}`;
  $("hits").replaceChildren(...hits.map(renderHit));
  if (hits.length) select(0);
}

// --- tickets ------------------------------------------------------------------------

function stepForm(ticket, step) {
  const status = el("select", { "aria-label": `${step.name} 新状态` },
    STEP_CHOICES.map((s) => el("option", { value: s, selected: s === step.status }, s)));
  const note = el("input", { placeholder: "备注", maxlength: "2000", "aria-label": `${step.name} 备注` });
  const submit = async (event) => {
    event.preventDefault();
    const path = `/api/tickets/${encodeURIComponent(ticket.ticket_no)}/steps/${encodeURIComponent(step.name)}`;
    const body = await api(path, {
      method: "POST", body: JSON.stringify({ status: status.value, note: note.value }),
    });
    if (body) {
      say(`已更新 ${ticket.ticket_no}：${step.name} → ${status.value}`);
      $("status").className = "status ok";
      replaceTicket(body.ticket);
      refreshTicketSoon(body.ticket.ticket_no); // the notice's delivery state follows
    }
  };
  return el("form", { class: "step-form", "data-step": step.name, onsubmit: submit },
    status, note, el("button", { type: "submit", class: "small" }, "更新"));
}

function renderTicket(ticket) {
  const open = ticket.status === "open";
  const rows = ticket.steps.map((step) =>
    el("tr", { class: step.name === ticket.current_step ? "current-step" : null },
      el("td", {}, step.position), el("td", {}, step.name),
      el("td", { class: `st-${step.status}` }, step.status),
      el("td", {}, when(step.updated_at)), el("td", {}, step.note),
      el("td", {}, open ? stepForm(ticket, step) : "")));
  const notices = (ticket.notices || []).slice(0, 5).map((n) =>
    el("li", { class: `notice st-${n.state}`, "data-notice": n.id },
      `${when(n.created_at)} ${n.step || ""}：${n.state_label}`, n.error ? `（${n.error}）` : ""));
  const history = ticket.history.slice(-5).reverse().map((e) =>
    el("li", {}, `${when(e.created_at)} ${e.step || "工单"}：${e.old_status || "-"} → ${e.new_status}（${e.actor}）${e.note ? " " + e.note : ""}`));
  const detail = ticket.reason_detail ? `（${ticket.reason_detail}）` : "";
  return el("article", { class: "ticket", "data-ticket": ticket.ticket_no },
    el("h2", {}, `${ticket.ticket_no} · ${ticket.status_label}`,
      ticket.current_step ? ` · 当前步骤：${ticket.current_step}` : ""),
    el("dl", {},
      el("dt", {}, "商户号"), el("dd", {}, ticket.merchant_id),
      el("dt", {}, "联系电话"), el("dd", {}, ticket.contact_phone),
      el("dt", {}, "原机序列号"), el("dd", {}, ticket.serial_number),
      el("dt", {}, "解绑原因"), el("dd", {}, ticket.reason_category + detail),
      el("dt", {}, "渠道"), el("dd", {}, ticket.channel),
      el("dt", {}, "会话"), el("dd", {},
        el("a", { href: `#conversation/${encodeURIComponent(ticket.ticket_no)}`, class: "transcript-link" },
          "查看对话记录")),
      el("dt", {}, "创建"), el("dd", {}, when(ticket.created_at)),
      el("dt", {}, "更新"), el("dd", {}, when(ticket.updated_at))),
    el("table", {},
      el("thead", {}, el("tr", {}, ["#", "步骤", "状态", "时间", "备注", open ? "更新" : ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)),
    history.length ? el("details", {}, el("summary", {}, "最近变更"), el("ul", {}, history)) : null,
    notices.length ? el("div", { class: "notices" }, el("strong", {}, "给商户的进度通知"),
      el("ul", {}, notices)) : null);
}

function refreshTicketSoon(ticketNo, delays = [2000, 6000]) {
  for (const delay of delays) {
    setTimeout(async () => {
      const body = await api(`/api/tickets?ticket=${encodeURIComponent(ticketNo)}`);
      if (body && body.tickets.length) replaceTicket(body.tickets[0]);
    }, delay);
  }
}

function replaceTicket(ticket) {
  const old = document.querySelector(`[data-ticket="${CSS.escape(ticket.ticket_no)}"]`);
  if (old) old.replaceWith(renderTicket(ticket));
}

async function findTickets(event) {
  if (event) event.preventDefault();
  $("status").className = "status";
  const key = $("ticket-key").value;
  const value = $("ticket-value").value.trim();
  const body = await api(`/api/tickets?${key}=${encodeURIComponent(value)}`);
  if (!body) return;
  $("tickets").replaceChildren(...(body.tickets.length
    ? body.tickets.map(renderTicket) : [el("p", { class: "meta" }, "没有找到工单")]));
}

// --- conversations ------------------------------------------------------------------

/** A ticket number opens the ticket's conversation; anything else is a sender id. */
async function loadConversation(event) {
  if (event) event.preventDefault();
  const sender = $("sender").value.trim();
  if (!sender) return;
  const path = TICKET_NO.test(sender)
    ? `/api/conversations?ticket=${encodeURIComponent(sender)}`
    : `/api/conversations/${encodeURIComponent(sender)}`;
  const body = await api(path);
  if (!body) { $("turns").replaceChildren(); $("conversation-meta").textContent = ""; return; }
  $("conversation-meta").textContent =
    `会话ID：${body.sender_id} · 渠道：${body.channel_label} · ${body.turns.length} 条消息` +
    (body.truncated ? "（只显示最近的消息）" : "") +
    (body.tickets.length ? ` · 工单：${body.tickets.join("、")}` : "");
  $("turns").replaceChildren(...body.turns.map((t) =>
    el("li", { class: `turn ${t.speaker}` },
      el("div", { class: "info" }, speakerLabel(t), " · ", when(t.time),
        t.intent ? ` · 意图 ${t.intent}${t.confidence !== null ? ` (${t.confidence.toFixed(2)})` : ""}` : ""),
      el("div", { class: "text" }, t.text),
      t.buttons.length ? el("div", { class: "btns" }, t.buttons.map((b) => el("span", { title: b.payload }, b.title))) : null)));
}

/** Who said it: 商户, 机器人, 客服 张三, 工单通知, 系统. */
function speakerLabel(turn) {
  if (turn.speaker === "user") return turn.to_agent ? "商户（发给客服）" : "商户";
  if (turn.speaker === "agent") return `客服 ${turn.agent || ""}`.trim();
  if (turn.speaker === "system") return turn.kind === "notice" ? "工单通知" : "转人工";
  return "机器人";
}

// --- guide --------------------------------------------------------------------------

let guide = null;
let guideMarks = [];
let guideAt = -1;

async function loadGuide() {
  if (guide) return;
  const body = await api("/api/guide");
  if (!body) return;
  guide = body;
  renderGuide("");
}

function renderGuide(query) {
  const text = guide.text;
  const heads = new Map(guide.headings.map((h, i) => [h.start, { ...h, id: `h${i}` }]));
  const blocks = [];
  let offset = 0;
  for (const line of text.split("\n")) {
    const head = heads.get(offset) || heads.get(offset + line.indexOf(line.trim()));
    const content = query ? markAll(line, query) : [line];
    if (head) blocks.push(el(`h${head.level + 1}`, { id: head.id }, content));
    else if (line.trim()) blocks.push(el("p", {}, content));
    offset += line.length + 1;
  }
  $("guide-text").replaceChildren(...blocks);
  $("guide-toc").replaceChildren(...[...heads.values()].map((h) =>
    el("a", { href: `#guide`, class: `l${h.level}`, onclick: (e) => {
      e.preventDefault(); $(h.id).scrollIntoView();
    } }, h.title)));
  guideMarks = [...$("guide-text").querySelectorAll("mark")];
  guideAt = -1;
  $("guide-count").textContent = query ? `${guideMarks.length} 处` : "";
}

function markAll(line, query) {
  const parts = [];
  const lower = line.toLowerCase(), needle = query.toLowerCase();
  let at = 0, hit;
  while ((hit = lower.indexOf(needle, at)) >= 0) {
    parts.push(line.slice(at, hit), el("mark", {}, line.slice(hit, hit + needle.length)));
    at = hit + needle.length;
  }
  parts.push(line.slice(at));
  return parts;
}

function nextGuideMark() {
  if (!guideMarks.length) return;
  if (guideAt >= 0) guideMarks[guideAt].classList.remove("current");
  guideAt = (guideAt + 1) % guideMarks.length;
  guideMarks[guideAt].classList.add("current");
  guideMarks[guideAt].scrollIntoView({ block: "center" });
  $("guide-count").textContent = `${guideAt + 1}/${guideMarks.length} 处`;
}

// --- wiring -------------------------------------------------------------------------

$("agent-name").textContent = agent || "";
$("logout").addEventListener("click", logout);
$("answer-form").addEventListener("submit", search);
$("ticket-form").addEventListener("submit", findTickets);
$("conversation-form").addEventListener("submit", loadConversation);
$("guide-form").addEventListener("submit", (e) => { e.preventDefault(); nextGuideMark(); });
$("guide-q").addEventListener("input", () => { if (guide) renderGuide($("guide-q").value.trim()); });

$("q").addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown") { event.preventDefault(); select(selected + 1); }
  else if (event.key === "ArrowUp") { event.preventDefault(); select(selected - 1); }
  else if (event.key === "Enter" && hits.length && $("q").value.trim() === lastQuery) {
    event.preventDefault(); copySelected();
  }
});
let lastQuery = "";
$("answer-form").addEventListener("submit", () => { lastQuery = $("q").value.trim(); });

document.addEventListener("keydown", (event) => {
  if (event.altKey && /^[1-9]$/.test(event.key) && Number(event.key) <= TABS.length) {
    event.preventDefault();
    window.location.hash = `#${TABS[Number(event.key) - 1]}`;
  } else if (event.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
    event.preventDefault();
    window.location.hash = "#answers";
    $("q").focus();
  }
});
window.addEventListener("hashchange", route);
route();
