// Minimal DOM morphing for the Warm Tasks page: updates in place, keeping focus, open rows and bar animations.

const nodeKey = (n) => (n.nodeType === 1 ? n.getAttribute("data-key") : null);
export function morphInto(container, html) {
  const tpl = document.createElement(container.tagName === "TBODY" || container.tagName === "THEAD" ? "table" : "div");
  if (container.tagName === "TBODY" || container.tagName === "THEAD") {
    tpl.innerHTML = `<${container.tagName.toLowerCase()}>${html}</${container.tagName.toLowerCase()}>`;
    morphChildren(container, tpl.firstElementChild);
  } else {
    tpl.innerHTML = html;
    morphChildren(container, tpl);
  }
}
function morphNode(from, to) {
  if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName || nodeKey(from) !== nodeKey(to)) { from.replaceWith(to); return; }
  if (from.nodeType !== 1) { if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue; return; }
  for (const a of Array.from(from.attributes)) if (!to.hasAttribute(a.name)) from.removeAttribute(a.name);
  for (const a of Array.from(to.attributes)) if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
  if (from.nodeName === "INPUT") {
    if (from.type === "checkbox") from.checked = to.hasAttribute("checked");
    else if (document.activeElement !== from && from.value !== to.getAttribute("value")) from.value = to.getAttribute("value") ?? "";
  }
  if (from.nodeName === "BUTTON") from.disabled = to.hasAttribute("disabled");
  if (from.nodeName === "SELECT") { morphChildren(from, to); const sel = to.querySelector("option[selected]"); if (sel) from.value = sel.value; return; }
  morphChildren(from, to);
}
function morphChildren(from, to) {
  const keyed = new Map();
  for (const n of Array.from(from.childNodes)) { const k = nodeKey(n); if (k) keyed.set(k, n); }
  const news = Array.from(to.childNodes);
  let i = 0;
  for (const nk of news) {
    const k = nodeKey(nk);
    const cur = from.childNodes[i] || null;
    const match = k ? keyed.get(k) : null;
    if (match) {
      keyed.delete(k);
      if (match !== cur) from.insertBefore(match, cur);
      morphNode(match, nk);
    } else if (!k && cur && !nodeKey(cur) && cur.nodeName === nk.nodeName) {
      morphNode(cur, nk);
    } else {
      from.insertBefore(nk, cur);
    }
    i++;
  }
  while (from.childNodes.length > i) from.removeChild(from.lastChild);
}
