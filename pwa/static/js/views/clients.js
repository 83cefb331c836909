// Case manager: the pages under #/clients, each in a module of its own, loaded when opened: the
// client list and a client's file (#/clients, #/clients/CLIENT: cm-clients.js), a new client, a
// decision and the client's invite (#/clients/new, #/clients/CLIENT/WALLET[/decision]:
// cm-new-client.js), many clients from a CSV file (#/clients/import: cm-import.js). The list is
// the case manager's first screen; it needs none of the others' code (index.html's early start).
export async function render(main, params, ctx) {
  if (params[0] === "import") return (await import("./cm-import.js")).render(main);
  if (params[0] !== "new" && params.length < 2) return (await import("./cm-clients.js")).render(main, params, ctx);
  return (await import("./cm-new-client.js")).render(main, params, ctx);
}
