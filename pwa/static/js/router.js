// Navigation by hash. Views and the shell both use it; it imports nothing, so no view needs
// the shell (app.js) and there is no import circle. The shell routes on "hashchange".
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}
