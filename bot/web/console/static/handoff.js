// Agent console, pages 人工 (live handoff) and 通知 (step-change notices).
// Loaded before console.js, which shows these pages through window.consolePages; the
// helpers api(), el(), when() and say() are console.js's and are called only later.
"use strict";

(() => {
  const byId = (id) => document.getElementById(id);
  const QUEUE_EVERY = 2000;
  const CONVERSATION_EVERY = 1500;
  const STATE_CLASS = { sent: "ok", failed: "bad", uncertain: "bad" };

  let queueTimer = 0; // eslint-disable-line no-unused-vars
  let viewTimer = 0;
  let openId = null; // the handoff shown on the right
  let handoff = null;
  let turns = []; // the transcript so far, oldest first
  let outbox = []; // the handoff's outbox rows (agent messages, handoff notices)
  let lastEvent = 0;
  let pending = null; // {text, client_id}: the reply being sent (kept on failure)

  const newClientId = () => {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  };

  function fail(message) { byId("handoff-error").textContent = message || ""; }

  /** api(), but errors go to the page's own line and 409s keep their holder. */
  async function call(path, options = {}) {
    const headers = {
      Authorization: `Bearer ${sessionStorage.getItem("console.token")}`,
      "X-Agent": encodeURIComponent(sessionStorage.getItem("console.agent") || ""),
      ...(options.body ? { "Content-Type": "application/json" } : {}),
    };
    let reply;
    try {
      reply = await fetch(path, { ...options, headers });
    } catch (err) {
      return { ok: false, error: "无法连接服务器（网络或服务中断）" };
    }
    if (reply.status === 401) { window.location.replace("/console/login"); return { ok: false }; }
    const body = await reply.json().catch(() => ({}));
    return reply.ok ? { ok: true, body } : { ok: false, status: reply.status, error: body.error || `请求失败（${reply.status}）`, body };
  }

  // --- queue ---------------------------------------------------------------------------

  function waited(iso) {
    const minutes = Math.max(0, Math.round((Date.now() - new Date(iso)) / 60000));
    return minutes < 1 ? "刚刚" : `等了 ${minutes} 分钟`;
  }

  function queueItem(h) {
    const who = h.state === "claimed" ? (h.mine ? "我在接待" : `${h.agent} 接待中`) : h.state_label;
    const tickets = h.open_tickets && h.open_tickets.length ? ` · 工单 ${h.open_tickets.join("、")}` : "";
    return el("li", {
      class: [h.state, h.mine ? "mine" : "", h.id === openId ? "open" : ""].join(" "),
      "data-handoff": h.id, onclick: () => openHandoff(h.id),
    },
      el("div", {}, el("strong", {}, `${h.channel_label} · ${h.reason_label}`), ` · ${who}`),
      el("div", { class: "meta" }, `${waited(h.queued_at)}${tickets}`),
      h.left_message ? el("div", { class: "left" }, `留言：${h.left_message}`) : null,
      h.preview ? el("div", { class: "preview" }, h.preview) : null);
  }

  async function loadQueue(poll) {
    const reply = await call(`/api/handoffs${poll ? "?poll=1" : ""}`);
    if (!reply.ok) { byId("handoff-meta").textContent = reply.error || ""; return; }
    const { handoffs, on_duty: onDuty, hours } = reply.body;
    const waiting = handoffs.filter((h) => h.state === "queued");
    byId("handoff-meta").textContent =
      `${waiting.length} 个对话在排队` + (onDuty ? "" : ` · 现在不是人工客服时间（${hours}）`);
    const badge = byId("queue-count");
    badge.textContent = String(waiting.length);
    badge.hidden = waiting.length === 0;
    const active = handoffs.filter((h) => h.state !== "closed");
    byId("handoff-queue").replaceChildren(...(active.length ? active.map(queueItem)
      : [el("li", { class: "meta" }, "没有等待人工的对话")]));
  }

  // --- one conversation ----------------------------------------------------------------

  function label(t) {
    if (t.speaker === "user") return t.to_agent ? "商户（发给客服）" : "商户";
    if (t.speaker === "agent") return `客服 ${t.agent || ""}`;
    if (t.speaker === "system") return t.kind === "notice" ? "工单通知" : "转人工";
    return "机器人";
  }

  function delivery(row) {
    if (!row) return null;
    const retry = ["failed", "uncertain"].includes(row.state)
      ? el("button", { type: "button", class: "link", onclick: () => resend(row.id) }, "重发") : null;
    return el("div", { class: `delivery ${STATE_CLASS[row.state] || ""}`, "data-state": row.state },
      row.state_label, row.error ? `：${row.error}` : "", retry);
  }

  function renderTurns() {
    const byOutbox = new Map(outbox.map((r) => [r.id, r]));
    const shown = new Set();
    const items = turns.map((t) => {
      const row = t.outbox_id ? byOutbox.get(t.outbox_id) : null;
      if (row) shown.add(row.id);
      return el("li", { class: `turn ${t.speaker}` },
        el("div", { class: "info" }, label(t), " · ", when(t.time)),
        el("div", { class: "text" }, t.text), t.speaker === "agent" ? delivery(row) : null);
    });
    // Messages not yet stored in the conversation (queued, failed before storing).
    for (const row of outbox) {
      if (shown.has(row.id) || row.kind !== "agent") continue;
      items.push(el("li", { class: "turn agent pending", "data-outbox": row.id },
        el("div", { class: "info" }, `客服 ${row.agent || ""} · ${when(row.created_at)}`),
        el("div", { class: "text" }, row.text), delivery(row)));
    }
    const list = byId("handoff-turns");
    const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
    list.replaceChildren(...items);
    if (atEnd) list.scrollTop = list.scrollHeight;
  }

  function renderHeader() {
    const h = handoff;
    byId("handoff-title").textContent = `${h.channel_label} · ${h.sender_id}`;
    const tickets = h.open_tickets.length ? h.open_tickets.join("、") : "无";
    byId("handoff-info").textContent =
      `${h.state_label}${h.agent ? `（${h.agent}）` : ""} · 原因：${h.reason_label} · 商户的在办工单：${tickets}` +
      (h.left_message ? ` · 留言：${h.left_message}` : "");
    const w = h.window || {};
    byId("handoff-window").textContent = !w.applies ? ""
      : w.open ? `微信48小时客服窗口：${when(w.open_until)} 前可以回复`
        : "已超过微信48小时客服窗口：商户发来新消息前，回复发不出去";
    const active = h.state === "queued" || h.state === "claimed";
    byId("handoff-claim").disabled = h.state !== "queued";
    for (const id of ["handoff-handback", "handoff-requeue", "handoff-send"]) byId(id).disabled = !h.mine;
    byId("handoff-close").disabled = !(h.mine || h.state === "queued");
    byId("handoff-reply").disabled = !h.mine;
    if (!active) fail("这个对话已经结束");
  }

  async function refresh(full) {
    if (openId === null) return;
    const id = openId;
    const reply = await call(`/api/handoffs/${id}${full ? "" : `?after=${lastEvent}`}`);
    if (id !== openId) return;
    if (!reply.ok) { fail(reply.error); return; }
    const body = reply.body;
    handoff = body.handoff;
    turns = full ? body.turns : turns.concat(body.turns);
    for (const t of body.turns) lastEvent = Math.max(lastEvent, t.id);
    outbox = body.outbox;
    if (!pending) fail("");
    renderHeader();
    renderTurns();
  }

  async function openHandoff(id) {
    clearInterval(viewTimer);
    openId = id;
    turns = [];
    outbox = [];
    lastEvent = 0;
    pending = null;
    byId("handoff-view").hidden = false;
    byId("handoff-reply").value = "";
    fail("");
    if (window.location.hash !== `#handoff/${id}`) history.replaceState(null, "", `#handoff/${id}`);
    await refresh(true);
    viewTimer = setInterval(() => refresh(false), CONVERSATION_EVERY);
    loadQueue(true);
  }

  async function act(path, body) {
    const reply = await call(path, { method: "POST", body: JSON.stringify(body || {}) });
    if (!reply.ok) fail(reply.error);
    await refresh(true);
    loadQueue(true);
    return reply.ok;
  }

  async function resend(outboxId) {
    await act(`/api/outbox/${outboxId}/resend`);
  }

  async function sendReply(event) {
    if (event) event.preventDefault();
    const box = byId("handoff-reply");
    const text = box.value.trim();
    if (!text || openId === null) return;
    // The same text sent again (after a failure) keeps its id: it is never queued twice.
    if (!pending || pending.text !== text) pending = { text, client_id: newClientId() };
    const reply = await call(`/api/handoffs/${openId}/messages`, {
      method: "POST", body: JSON.stringify(pending),
    });
    if (!reply.ok) {
      fail(`消息没有发出：${reply.error}。文字还在输入框里，可以再按发送。`);
      return;
    }
    pending = null;
    box.value = "";
    fail("");
    await refresh(false);
  }

  let composing = false;
  function wire() {
    byId("handoff-claim").addEventListener("click", () => act(`/api/handoffs/${openId}/claim`));
    byId("handoff-handback").addEventListener("click", () => act(`/api/handoffs/${openId}/release`, { action: "handback" }));
    byId("handoff-requeue").addEventListener("click", () => act(`/api/handoffs/${openId}/release`, { action: "requeue" }));
    byId("handoff-close").addEventListener("click", () => act(`/api/handoffs/${openId}/release`, { action: "close" }));
    byId("handoff-form").addEventListener("submit", sendReply);
    const box = byId("handoff-reply");
    box.addEventListener("compositionstart", () => { composing = true; });
    box.addEventListener("compositionend", () => { composing = false; });
    box.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || composing || event.keyCode === 229) return;
      event.preventDefault();
      sendReply();
    });
    byId("notices-form").addEventListener("submit", (event) => { event.preventDefault(); loadNotices(); });
    // The queue (and the 人工 badge) stays current on every page.
    queueTimer = setInterval(() => loadQueue(true), QUEUE_EVERY);
  }

  // --- notices -------------------------------------------------------------------------

  async function loadNotices(poll) {
    const ticket = byId("notices-ticket").value.trim();
    const state = byId("notices-state").value;
    const query = new URLSearchParams();
    if (ticket) query.set("ticket", ticket);
    if (state) query.set("state", state);
    if (poll) query.set("poll", "1");
    const reply = await call(`/api/notices?${query}`);
    if (!reply.ok) { say(reply.error); return; }
    const rows = reply.body.notices.map((n) => el("tr", { "data-notice": n.id },
      el("td", {}, when(n.created_at)), el("td", {}, n.ticket_no || ""), el("td", {}, n.step || ""),
      el("td", {}, n.channel), el("td", { class: `st-${n.state}` }, n.state_label,
        n.error ? el("div", { class: "meta" }, n.error) : null),
      el("td", { class: "answer" }, n.text),
      el("td", {}, ["failed", "uncertain"].includes(n.state)
        ? el("button", { type: "button", class: "small", onclick: async () => {
          await call(`/api/outbox/${n.id}/resend`, { method: "POST", body: "{}" });
          loadNotices(true);
        } }, "重发") : "")));
    byId("notices").replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { colspan: "7", class: "meta" }, "没有通知"))]));
  }

  // --- pages ---------------------------------------------------------------------------

  let noticesTimer = 0;
  window.consolePages = window.consolePages || {};
  Object.assign(window.consolePages, {
    handoff: {
      show(arg) {
        loadQueue(false);
        const id = Number(arg);
        if (Number.isInteger(id) && id > 0 && id !== openId) openHandoff(id);
        else if (openId !== null) viewTimer = viewTimer || setInterval(() => refresh(false), CONVERSATION_EVERY);
      },
      hide() {
        clearInterval(viewTimer);
        viewTimer = 0;
      },
    },
    notices: {
      show() {
        clearInterval(noticesTimer);
        loadNotices(false);
        noticesTimer = setInterval(() => loadNotices(true), 5000);
      },
      hide() { clearInterval(noticesTimer); },
    },
  });
  document.addEventListener("DOMContentLoaded", wire);
})();
