// Console page "待标注": candidate training messages grouped by similar text; an agent
// labels a group (or one message) with an intent, or marks it as not to be used.
// Uses console.js's helpers (api, el, say, when) and registers in window.consolePages.
"use strict";

const REASON_LABELS = {
  fallback: "没听懂", low_confidence: "不太确定", handoff: "转人工",
  unhelpful: "商户说没用", feedback: "商户点了👎",
};

function labelControls(ids, labels, suggested) {
  const choice = el("select", { "aria-label": "意图" },
    el("option", { value: "" }, "选择意图…"),
    labels.map((l) => el("option", { value: l, selected: l === suggested }, l)));
  const label = async (intent) => {
    const body = await api("/api/candidates/label", {
      method: "POST", body: JSON.stringify({ ids, intent }),
    });
    if (body) {
      say(intent ? `已标注 ${body.labelled} 条为 ${intent}` : `已将 ${body.labelled} 条标为不采用`);
      loadCandidates();
    }
  };
  return el("span", { class: "label-controls" }, choice,
    el("button", { type: "button", class: "small", onclick: () => {
      if (choice.value) label(choice.value); else say("请先选择意图");
    } }, "标注"),
    el("button", { type: "button", class: "small link", onclick: () => label(null) }, "不采用"));
}

function renderGroup(group, labels, open) {
  const reasons = Object.entries(group.reasons)
    .map(([r, n]) => el("span", { class: "chip" }, `${REASON_LABELS[r] || r} ${n}`));
  const understood = Object.entries(group.intents)
    .map(([i, n]) => el("span", { class: "chip nlu" }, `机器人理解为 ${i} ×${n}`));
  const top = Object.entries(group.intents).sort((a, b) => b[1] - a[1])[0];
  const members = group.members.map((m) => el("li", { "data-candidate": m.id },
    el("span", {}, m.text), " ",
    el("span", { class: "meta" }, `${when(m.created_at)} · ${REASON_LABELS[m.reason] || m.reason}`,
      m.label ? ` · ${m.label}（${m.labelled_by || ""}）` : ""), " ",
    el("a", { href: `#conversation/${encodeURIComponent(m.sender_id)}` }, "会话"), " ",
    open ? labelControls([m.id], labels, null) : null));
  return el("li", { class: "hit candidate-group" },
    el("h2", {}, `${group.text}`, el("span", { class: "meta" }, ` ×${group.count}`)),
    el("div", { class: "why" }, reasons, understood),
    open ? el("div", {}, "整组：", labelControls(group.members.map((m) => m.id), labels,
      top ? top[0] : null)) : null,
    el("details", {}, el("summary", {}, `${group.members.length} 条消息`), el("ul", {}, members)));
}

async function loadCandidates(event) {
  if (event) event.preventDefault();
  const status = $("candidate-status").value;
  const reason = $("candidate-reason").value;
  const query = `status=${status}${reason ? `&reason=${reason}` : ""}`;
  const body = await api(`/api/candidates?${query}`);
  if (!body) return;
  const c = body.counts;
  $("candidate-meta").textContent =
    `待标注 ${c.open} · 已标注 ${c.labelled} · 不采用 ${c.dismissed} · 本页 ${body.groups.length} 组`;
  $("candidate-groups").replaceChildren(...(body.groups.length
    ? body.groups.map((g) => renderGroup(g, body.labels, status === "open"))
    : [el("p", { class: "meta" }, "没有候选语料")]));
}

$("candidate-form").addEventListener("submit", loadCandidates);
$("candidate-status").addEventListener("change", loadCandidates);
$("candidate-reason").addEventListener("change", loadCandidates);
window.consolePages.candidates = { show: loadCandidates };
if (window.location.hash.startsWith("#candidates")) loadCandidates();
