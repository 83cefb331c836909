// Navigation by hash. Views and the shell both use it; it imports nothing, so no view needs
// the shell (app.js) and there is no import circle. The shell routes on "hashchange".
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

// A link to the page already in the address bar changes no hash, so the browser fires no
// "hashchange" and nothing happens: "Veloita" on a charge's result or waiting screen (still
// #/charge) would not start a new charge. Such a link opens its page afresh instead.
document.addEventListener("click", (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const link = ev.target instanceof Element ? ev.target.closest("a[href^='#/']") : null;
  if (!link || link.target || link.hasAttribute("download")) return;
  const hash = link.getAttribute("href");
  if (hash !== location.hash) return;
  ev.preventDefault();
  go(hash);
});
