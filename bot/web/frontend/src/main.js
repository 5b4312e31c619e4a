// 解绑助手 web chat: socket.io to Rasa (through the web app's /socket.io/ proxy),
// a persistent outbox so no message is lost or sent twice, history on reload and after
// every reconnect. Agents' replies and ticket notices arrive as bot_uttered with
// {kind, agent, id}; an id already shown is not shown twice.
import { io } from "socket.io-client";
import { Conversation } from "./render.js";

const SESSION_KEY = "jiebang.chat.session";
const OUTBOX_KEY = "jiebang.chat.outbox";
const SESSION_ID = /^[0-9a-f]{32}$/;
const GREETING = "/greet";
const ACK_TIMEOUT = 60000; // Rasa acks once it has handled the message and replied
const SLOW_AFTER = 8000; // no ack by then: ask whether Rasa is up, and say what is going on
const DOWN_TEXT =
  "解绑助手暂时无法服务：对话服务没有启动或正在维护。请稍后再试，恢复后本页会自动重新连接，您输入的消息会在恢复后发出。";
const SLOW_TEXT = "解绑助手回复得比平时慢，请稍候…";
const OFFLINE_TEXT = "网络已断开，联网后会自动重新连接…";

// Relative to the page, so the chat also works under a path prefix behind a proxy.
const base = new URL(".", window.location.href);
const $ = (id) => document.getElementById(id);

const status = $("status");
const input = $("input");
const sendButton = $("send");
const view = new Conversation($("messages"), $("typing"), (button) => {
  view.disableChips();
  send(button.payload, button.title);
}, rate);

// 👍/👎 on an answer; true once the server kept it.
async function rate(text, rating) {
  if (!sessionId) return false;
  try {
    const answer = await fetch(new URL("chat/feedback", base), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session_id: sessionId, text, rating }),
    });
    return answer.ok;
  } catch (err) {
    return false;
  }
}

let sessionId = readSession();
let outbox = readOutbox(); // [{id, text, display, hidden, time}], oldest first
let inflight = null; // id of the message waiting for its ack
let unsure = outbox.length > 0; // a message may have reached Rasa without our seeing the ack
let ready = false; // connected and joined the conversation's room
let connection = 0; // bumped on every connect, to ignore work of a dropped connection
let composing = false;
let slowTimer = 0; // runs while a message waits for its ack
const forgotten = new Set(); // ids this tab has delivered or dropped from the shared outbox

function readSession() {
  const id = localStorage.getItem(SESSION_KEY);
  return id && SESSION_ID.test(id) ? id : null;
}

function readOutbox() {
  try {
    const items = JSON.parse(localStorage.getItem(OUTBOX_KEY) || "[]");
    return Array.isArray(items) ? items.filter((i) => i && typeof i.id === "string") : [];
  } catch {
    return [];
  }
}

// Other tabs of the same chat share the stored outbox: keep the messages they queued.
function saveOutbox() {
  const mine = new Set(outbox.map((i) => i.id));
  const others = readOutbox().filter((i) => !mine.has(i.id) && !forgotten.has(i.id));
  const all = [...others, ...outbox].sort((a, b) => (a.time || 0) - (b.time || 0));
  localStorage.setItem(OUTBOX_KEY, JSON.stringify(all));
}

function dropFromOutbox(ids) {
  for (const id of ids) forgotten.add(id);
  outbox = outbox.filter((i) => !ids.has(i.id));
  saveOutbox();
}

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function showStatus(text, kind = "") {
  status.textContent = text || "";
  status.className = kind ? `status ${kind}` : "status";
  status.hidden = !text;
}

// true or false: whether Rasa answers; null: the web app itself cannot be reached.
async function rasaUp() {
  try {
    const answer = await fetch(new URL("chat/health", base), { cache: "no-store" });
    return (await answer.json()).rasa === true;
  } catch {
    return null;
  }
}

// A reply is overdue: say whether Rasa is down or just slow instead of typing forever.
function watchReply() {
  clearTimeout(slowTimer);
  slowTimer = setTimeout(async () => {
    const id = inflight;
    if (!id) return;
    const up = await rasaUp();
    if (inflight !== id) return;
    if (up === false) showStatus(DOWN_TEXT, "down");
    else showStatus(SLOW_TEXT);
    watchReply();
  }, SLOW_AFTER);
}

// --- sending ---------------------------------------------------------------------

function send(text, display = "", hidden = false) {
  const item = { id: newId(), text, display, hidden, time: Date.now() };
  outbox.push(item);
  saveOutbox();
  if (!hidden) {
    view.disableChips();
    view.addUser(display || text, item.time, { id: item.id, pending: true });
  }
  flush();
}

function flush() {
  if (!ready || !socket.connected || inflight || !outbox.length) return;
  const item = outbox[0];
  inflight = item.id;
  view.setTyping(true);
  const metadata = { client_id: item.id };
  if (item.display) metadata.display = item.display;
  if (item.hidden) metadata.hidden = true;
  const data = { message: item.text, session_id: sessionId, metadata };
  watchReply();
  socket.timeout(ACK_TIMEOUT).emit("user_uttered", data, (error, ack) => {
    if (inflight !== item.id) return;
    if (!error) {
      delivered(item.id, ack);
      return;
    }
    // No ack: the connection dropped (re-sent after the reconnect) or Rasa is stuck.
    // Sending again is safe: Rasa's channel does not handle a client_id twice.
    inflight = null;
    unsure = true;
    setTimeout(flush, 1000);
  });
}

async function delivered(id, ack) {
  if (inflight !== id) return;
  inflight = null;
  clearTimeout(slowTimer);
  showStatus("");
  dropFromOutbox(new Set([id]));
  view.markSent(id);
  view.setTyping(false);
  // Rasa had this message already (sent before a drop): its replies may have been
  // missed, so show the conversation as Rasa has it.
  if (ack && ack.duplicate) await resync(connection);
  flush();
}

// --- history -----------------------------------------------------------------------

async function fetchHistory() {
  if (!sessionId) return { messages: [], delivered: [] };
  try {
    const answer = await fetch(new URL(`chat/history/${sessionId}`, base), { cache: "no-store" });
    return answer.ok ? await answer.json() : null;
  } catch {
    return null;
  }
}

// Show the conversation as Rasa stored it; drop queued messages Rasa already has.
async function resync(conn) {
  const history = await fetchHistory();
  if (!history || conn !== connection) return false;
  dropFromOutbox(new Set(history.delivered || []));
  view.render(history.messages || [], outbox);
  return true;
}

// --- connection --------------------------------------------------------------------

const socket = io({
  path: `${base.pathname}socket.io/`,
  transports: ["websocket"],
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  timeout: 10000,
});

socket.on("connect", () => {
  connection += 1;
  socket.emit("session_request", { session_id: sessionId });
});

socket.on("session_confirm", async (id) => {
  const conn = connection;
  const fresh = id !== sessionId;
  if (fresh) {
    sessionId = id;
    localStorage.setItem(SESSION_KEY, id);
    view.render([], outbox);
  } else if (unsure || view.count() === 0 || conn > 1) {
    // After a reconnect, show what arrived meanwhile (an agent's reply, a notice).
    await resync(conn);
    if (conn !== connection) return;
  }
  unsure = false;
  ready = true;
  showStatus("");
  if (view.count() === 0 && !outbox.length) send(GREETING, "", true);
  flush();
});

socket.on("bot_uttered", (message) => {
  if (!message || typeof message !== "object") return;
  const buttons = (message.quick_replies || message.buttons || [])
    .filter((b) => b && typeof b.title === "string")
    .map((b) => ({ title: b.title, payload: String(b.payload ?? b.title) }));
  const text = typeof message.text === "string" ? message.text : "";
  const who = {
    agent: typeof message.agent === "string" ? message.agent : "",
    kind: typeof message.kind === "string" ? message.kind : "",
    id: typeof message.id === "string" ? message.id : "",
  };
  const time = typeof message.time === "number" ? message.time : Date.now();
  if (text || buttons.length) view.addBot(text, buttons, time, who);
  showStatus(""); // Rasa answers: not down, no longer slow
  if (inflight) {
    view.setTyping(true); // keep the dots below the newest message
    watchReply();
  }
});

socket.on("disconnect", (reason) => {
  ready = false;
  if (inflight) unsure = true;
  inflight = null;
  clearTimeout(slowTimer);
  view.setTyping(false);
  if (reason === "io client disconnect") return; // new chat, or the offline handler
  showStatus(navigator.onLine ? "连接已断开，正在重新连接…" : OFFLINE_TEXT);
});

socket.on("connect_error", async () => {
  ready = false;
  const up = await rasaUp(); // null: the web app is unreachable, network trouble
  if (socket.connected) return;
  if (!navigator.onLine) showStatus(OFFLINE_TEXT);
  else if (up === false) showStatus(DOWN_TEXT, "down");
  else showStatus("正在重新连接…");
});

// The browser knows at once when the network goes: do not wait ~45 s for socket.io's
// ping timeout. Messages typed meanwhile wait in the outbox.
window.addEventListener("offline", () => {
  socket.disconnect();
  showStatus(OFFLINE_TEXT);
});
window.addEventListener("online", () => {
  if (!socket.connected) {
    showStatus("正在重新连接…");
    socket.connect();
  }
});

showStatus("正在连接…");
view.render([], outbox); // messages typed before a reload that were never sent

// --- input ---------------------------------------------------------------------------

function submit() {
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  autosize();
  send(text);
  input.focus();
}

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
}

input.addEventListener("compositionstart", () => {
  composing = true;
});
input.addEventListener("compositionend", () => {
  composing = false;
});
input.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.shiftKey) return;
  // Enter while an IME is composing (拼音 → 汉字) confirms the candidate; never send.
  // keyCode 229 covers Safari, which ends the composition before this keydown.
  if (event.isComposing || composing || event.keyCode === 229) return;
  event.preventDefault();
  submit();
});
input.addEventListener("input", autosize);
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});

$("new-chat").addEventListener("click", () => {
  localStorage.removeItem(SESSION_KEY);
  sessionId = null;
  outbox = [];
  localStorage.setItem(OUTBOX_KEY, "[]"); // a new conversation: nothing left to send
  inflight = null;
  unsure = false;
  ready = false;
  view.render([], []);
  view.setTyping(false);
  socket.disconnect();
  socket.connect();
  input.focus();
});

sendButton.disabled = false;
