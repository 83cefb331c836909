// Case manager with the admin right: the organizer's webhook endpoints for integrations
// (#/webhooks, reached from the Staff screen). Add one (an https URL and the event types), see
// its signing secret this once, turn it off or on, send a test, delete it after a confirm step;
// open an endpoint's delivery log (newest first, by status) and send a delivery again.
import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { dateTime } from "../format.js";
import { t, tn } from "../i18n.js";

function problemText(err) {
  return err instanceof ApiError ? err.title : t("charge.err.offline");
}

function alertBox(text) {
  return h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, text));
}

const typeName = (type) => {
  const key = `webhooks.type.${type}`;
  const text = t(key);
  return text === key ? type : text;
};

// The secret as its creator sees it, once.
function secretCard(made) {
  return h("section", { class: "card", "aria-labelledby": "wh-secret-title", "data-secret": "" },
    h("h2", { id: "wh-secret-title", tabindex: "-1" }, t("webhooks.secret.title")),
    h("p", {}, t("webhooks.secret.howto")),
    h("p", { class: "total" }, h("span", { class: "visually-hidden" }, `${t("webhooks.secret.label")}: `),
      h("span", { class: "mono", "data-secret-value": "" }, made.secret)),
    h("p", { class: "small" }, t("webhooks.secret.once")));
}

export async function render(main) {
  const listed = await api("/api/webhooks");
  const status = h("div", { role: "status", "aria-live": "polite", class: "visually-hidden" });
  const secretSpot = h("div", {});
  const list = h("div", { "aria-labelledby": "wh-list-title" });
  const say = (text) => { status.textContent = text; announce(text); };

  const redraw = async (focusId) => {
    const fresh = await api("/api/webhooks");
    list.replaceChildren(...(fresh.items.length ? fresh.items.map(endpointCard) : [h("p", {}, t("webhooks.none"))]));
    if (focusId) list.querySelector(`[data-endpoint="${focusId}"] h3`)?.focus();
  };

  function endpointCard(e) {
    const titleId = `wh-${e.id.slice(0, 8)}`;
    const problem = h("div", {});
    const actions = h("div", { class: "actions" });
    const log = h("div", {});
    let state;
    if (e.enabled) state = t("webhooks.state.on");
    else if (e.disabled_reason) state = t("webhooks.state.disabledBy", { reason: e.disabled_reason });
    else state = t("webhooks.state.off");
    const card = h("section", { class: "card", "data-endpoint": e.id, "aria-labelledby": titleId },
      h("h3", { id: titleId, tabindex: "-1", class: "mono" }, e.url),
      h("p", { "data-state": e.enabled ? "on" : "off" }, state),
      h("p", { class: "small" }, t("webhooks.types"), " ", e.event_types.map(typeName).join(", ")),
      h("p", { class: "small" }, tn("webhooks.pending", e.pending), " · ", tn("webhooks.failed", e.failed)),
      actions, problem, log);
    const act = (fn) => async (ev) => {
      const button = ev.currentTarget;
      button.disabled = true;
      problem.replaceChildren();
      try {
        await fn();
      } catch (err) {
        button.disabled = false;
        problem.replaceChildren(alertBox(problemText(err)));
      }
    };
    actions.append(
      h("button", { class: "button button--secondary", type: "button", "aria-describedby": titleId, "aria-expanded": "false", "data-log": "",
        onclick: (ev) => {
          const open = ev.currentTarget.getAttribute("aria-expanded") === "true";
          ev.currentTarget.setAttribute("aria-expanded", open ? "false" : "true");
          if (open) log.replaceChildren(); else deliveryLog(e, log);
        } }, t("webhooks.log.show")),
      h("button", { class: "button button--secondary", type: "button", "aria-describedby": titleId,
        onclick: act(async () => {
          await api(`/api/webhooks/${e.id}`, { method: "PATCH", body: { enabled: !e.enabled } });
          say(t(e.enabled ? "webhooks.turnedOff" : "webhooks.turnedOn", { url: e.url }));
          await redraw(e.id);
        }) }, t(e.enabled ? "webhooks.turnOff" : "webhooks.turnOn")));
    if (e.enabled) {
      actions.append(h("button", { class: "button button--secondary", type: "button", "aria-describedby": titleId,
        onclick: act(async (ev) => {
          await api(`/api/webhooks/${e.id}/ping`, { method: "POST", body: {} });
          say(t("webhooks.pinged"));
          await redraw(e.id);
        }) }, t("webhooks.ping")));
    }
    const remove = h("button", { class: "button button--warning", type: "button", "aria-describedby": titleId }, t("webhooks.delete"));
    remove.addEventListener("click", () => {
      const confirmId = `wh-confirm-${e.id.slice(0, 8)}`;
      const yes = h("button", { class: "button button--warning", type: "button" }, t("webhooks.delete.yes"));
      const no = h("button", { class: "button button--secondary", type: "button" }, t("webhooks.delete.no"));
      actions.hidden = true;
      problem.replaceChildren(h("div", { class: "notice", role: "group", "aria-labelledby": confirmId },
        h("p", { id: confirmId }, t("webhooks.delete.confirm", { url: e.url })),
        h("div", { class: "actions" }, yes, no)));
      yes.focus();
      no.addEventListener("click", () => { problem.replaceChildren(); actions.hidden = false; remove.focus(); });
      yes.addEventListener("click", act(async () => {
        await api(`/api/webhooks/${e.id}`, { method: "DELETE" });
        say(t("webhooks.deleted", { url: e.url }));
        await redraw();
        document.getElementById("wh-list-title")?.focus();
      }));
    });
    actions.append(remove);
    return card;
  }

  // An endpoint's delivery log: newest first, filtered by status, more on request.
  function deliveryLog(e, box) {
    const filterId = `wh-filter-${e.id.slice(0, 8)}`;
    const titleId = `wh-log-${e.id.slice(0, 8)}`;
    const filter = h("select", { id: filterId },
      ["", "pending", "succeeded", "failed"].map((s) => h("option", { value: s }, t(`webhooks.status.${s || "all"}`))));
    const items = h("ul", { class: "list", "aria-labelledby": titleId });
    const more = h("button", { class: "button button--secondary", type: "button", hidden: true }, t("webhooks.log.more"));
    const refresh = h("button", { class: "button button--secondary", type: "button" }, t("webhooks.log.refresh"));
    let cursor = null;
    const load = async (append) => {
      const q = new URLSearchParams({ limit: "20" });
      if (filter.value) q.set("status", filter.value);
      if (append && cursor) q.set("cursor", cursor);
      const page = await api(`/api/webhooks/${e.id}/deliveries?${q}`);
      cursor = page.next_cursor;
      const rows = page.items.map((d) => deliveryRow(e, d));
      if (append) items.append(...rows); else items.replaceChildren(...rows);
      if (!items.children.length) items.replaceChildren(h("li", {}, t("webhooks.log.empty")));
      more.hidden = !cursor;
    };
    filter.addEventListener("change", () => load(false));
    more.addEventListener("click", () => load(true));
    refresh.addEventListener("click", async () => { await load(false); say(t("webhooks.log.refreshed")); });
    box.replaceChildren(h("div", {},
      h("h4", { id: titleId }, t("webhooks.log.title")),
      field({ id: filterId, label: t("webhooks.log.filter"), input: filter }),
      h("p", {}, refresh), items, h("p", {}, more)));
    load(false).catch((err) => box.append(alertBox(problemText(err))));
  }

  function deliveryRow(e, d) {
    const nameId = `wh-d-${d.id.slice(0, 8)}`;
    let answer = d.last_error || (d.last_status_code ? `HTTP ${d.last_status_code}` : "");
    if (d.status === "pending" && d.next_attempt_at && d.attempts) answer += ` · ${t("webhooks.log.next", { time: dateTime(d.next_attempt_at) })}`;
    const problem = h("div", { style: "flex-basis:100%" });
    const li = h("li", { "data-delivery": d.id, "data-status": d.status },
      h("span", {},
        h("strong", { id: nameId }, typeName(d.event_type)), " ",
        h("span", { class: "tag" }, t(`webhooks.status.${d.status}`)),
        h("span", { class: "small", style: "display:block" },
          `${dateTime(d.created_at)} · webhook-id ${d.webhook_id} · ${tn("webhooks.attempts", d.attempts)}`),
        answer ? h("span", { class: "small", style: "display:block" }, answer) : null),
      problem);
    if (d.status !== "pending" && e.enabled) {
      const again = h("button", { class: "button button--secondary", type: "button", "aria-describedby": nameId }, t("webhooks.replay"));
      again.addEventListener("click", async () => {
        again.disabled = true;
        problem.replaceChildren();
        try {
          const fresh = await api(`/api/webhooks/deliveries/${d.id}/replay`, { method: "POST", body: {} });
          say(t("webhooks.replayed"));
          const row = deliveryRow(e, fresh);
          li.replaceWith(row);
          row.querySelector("strong").setAttribute("tabindex", "-1");
          row.querySelector("strong").focus();
        } catch (err) {
          again.disabled = false;
          problem.replaceChildren(alertBox(problemText(err)));
        }
      });
      li.insertBefore(again, problem);
    }
    return li;
  }

  // The form: a URL and the event types.
  const url = h("input", { id: "wh-url", name: "wh-url", type: "url", inputmode: "url", autocomplete: "off", maxlength: "2000", spellcheck: "false" });
  const boxes = listed.event_types.map((type, i) => h("input", { type: "checkbox", id: `wh-type-${i}`, value: type }));
  const submit = h("button", { class: "button", type: "submit" }, t("webhooks.add"));
  const form = h("form", { novalidate: true },
    field({ id: "wh-url", label: t("webhooks.url"), hint: t("webhooks.url.hint"), input: url }),
    h("fieldset", { class: "fieldset", "data-field": "wh-type-0" },
      h("legend", {}, t("webhooks.types.legend")),
      h("div", { class: "choices" }, boxes.map((box) => h("div", { class: "choice" }, box,
        h("label", { for: box.id }, typeName(box.value), h("span", { class: "small mono" }, box.value)))))),
    h("p", {}, submit));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = [];
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!/^https?:\/\/\S+$/.test(url.value.trim())) errors.push({ id: "wh-url", message: t("webhooks.err.url") });
    if (!chosen.length) errors.push({ id: "wh-type-0", message: t("webhooks.err.types") });
    if (errors.length) return showErrors(form, errors);
    submit.disabled = true;
    try {
      const made = await api("/api/webhooks", { method: "POST", body: { url: url.value.trim(), event_types: chosen } });
      form.reset();
      showErrors(form, []);
      secretSpot.replaceChildren(secretCard(made));
      secretSpot.querySelector("h2").focus();
      await redraw();
    } catch (err) {
      const onUrl = err instanceof ApiError && err.slug === "url-not-allowed";
      showErrors(form, [{ id: onUrl ? "wh-url" : "wh-type-0", message: problemText(err) }]);
    } finally {
      submit.disabled = false;
    }
  });

  main.append(h("div", { class: "desk" },
    h("h1", {}, t("webhooks.title")),
    h("p", {}, t("webhooks.intro")),
    h("p", {}, h("a", { href: "#/staff" }, t("webhooks.back"))),
    status,
    secretSpot,
    h("section", { class: "card", "aria-labelledby": "wh-form-title" },
      h("h2", { id: "wh-form-title" }, t("webhooks.addTitle")),
      h("p", { class: "small" }, t("webhooks.limit", { max: listed.max_endpoints })), form),
    h("section", { "aria-labelledby": "wh-list-title" },
      h("h2", { id: "wh-list-title", tabindex: "-1" }, t("webhooks.listTitle")), list)));
  await redraw();
}
