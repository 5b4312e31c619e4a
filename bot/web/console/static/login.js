// Login: check the token (and, for the shared token, the agent name) against /api/session;
// keep them in sessionStorage.
"use strict";

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const agent = document.getElementById("agent").value.trim();
  const token = document.getElementById("token").value.trim();
  const problem = document.getElementById("login-error");
  problem.hidden = true;
  let reply;
  try {
    reply = await fetch("/api/session", {
      headers: { Authorization: `Bearer ${token}`, "X-Agent": encodeURIComponent(agent) },
    });
  } catch (err) {
    reply = null;
  }
  if (reply && reply.ok) {
    // A personal token names its agent; the shared token uses the name typed here.
    const session = await reply.json().catch(() => ({}));
    sessionStorage.setItem("console.token", token);
    sessionStorage.setItem("console.agent", session.agent || agent);
    window.location.assign("/console#answers");
    return;
  }
  let message = "无法连接服务器，请稍后再试";
  if (reply && reply.status === 401) message = "令牌不正确";
  else if (reply) message = (await reply.json().catch(() => ({}))).error || `登录失败（${reply.status}）`;
  problem.textContent = message;
  problem.hidden = false;
});
