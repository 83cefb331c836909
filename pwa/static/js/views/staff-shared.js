// The staff screens' common parts: a case manager admin's #/staff (cm-staff.js) and a provider
// owner's #/team (provider-staff.js) list their people, invite one (the code, QR, link and
// expiry shown once, to print or share) and remove one after a confirm step. The form and the
// list are left out of print: printing shows the invite.
import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { date } from "../format.js";
import { t } from "../i18n.js";

function problemText(err) {
  return err instanceof ApiError ? err.title : t("charge.err.offline");
}

function alertBox(text) {
  return h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, text));
}

// The invite as its issuer sees it once.
export function inviteCard(issued) {
  return h("section", { class: "card invite", "aria-labelledby": "staff-invite-title", "data-invite": issued.principal_id },
    h("h2", { id: "staff-invite-title", tabindex: "-1" }, t("invite.for", { name: issued.display_name })),
    h("p", {}, t("staff.invite.howto")),
    h("p", { class: "total" }, h("span", { class: "visually-hidden" }, `${t("invite.code")}: `), h("span", { class: "mono", "data-code": "" }, issued.code)),
    h("img", { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(issued.qr_svg)}`, alt: t("invite.qrAlt"), width: 220, height: 220 }),
    h("p", { class: "small" }, t("staff.invite.link"), " ", h("span", { class: "mono" }, issued.link)),
    h("p", { class: "small" }, t("invite.expires", { date: date(issued.expires_at) })),
    h("div", { class: "actions no-print" },
      h("button", { class: "button button--secondary", type: "button", onclick: () => window.print() }, t("invite.print")),
      navigator.share ? h("button", {
        class: "button button--secondary", type: "button",
        onclick: () => navigator.share({ title: t("invite.for", { name: issued.display_name }), text: `${t("invite.code")}: ${issued.code}`, url: issued.link }).catch(() => {}),
      }, t("staff.invite.share")) : null));
}

// cfg: { title, intro, listPath, invitePath, removePath(id), flag: "admin" | "owner",
//        flagLabel, flagHint, inviteTitle, listTitle, toggle(person) | null, state }
export async function renderStaff(main, cfg) {
  const people = await api(cfg.listPath);
  const inviteSpot = h("div", {});
  const status = h("div", { role: "status", "aria-live": "polite", class: "visually-hidden" });
  const list = h("ul", { class: "list card no-print", "aria-labelledby": "staff-list-title" });
  // Removed people stay on record (the audit trail names them), out of the way.
  const removedList = h("ul", { class: "list card" });
  const removedSummary = h("summary", {});
  const removed = h("details", { class: "no-print" }, removedSummary, removedList);
  const me = cfg.state.me?.principal_id;

  const draw = (rows) => {
    const gone = rows.filter((p) => p.removed_at);
    list.replaceChildren(...rows.filter((p) => !p.removed_at).map(row));
    removedList.replaceChildren(...gone.map(row));
    removedSummary.textContent = t("staff.removedList", { n: gone.length });
    removed.hidden = !gone.length;
  };
  const redraw = async () => draw(await api(cfg.listPath));

  const showInvite = (issued) => {
    inviteSpot.replaceChildren(inviteCard(issued));
    inviteSpot.querySelector("h2").focus();
  };

  function row(p) {
    const id = p.principal_id;
    const nameId = `staff-${id.slice(0, 8)}`;
    const tags = [];
    if (p[cfg.flag]) tags.push(h("span", { class: "tag" }, cfg.flagLabel));
    let state;
    if (p.removed_at) state = t("staff.state.removed", { date: date(p.removed_at) });
    else if (p.signed_up) state = t("staff.state.signedUp");
    else if (p.invite_expires_at) state = t("staff.state.invited", { date: date(p.invite_expires_at) });
    else state = t("staff.state.notSignedUp");
    const actions = h("div", { class: "actions" });
    const problem = h("div", { style: "flex-basis:100%" });
    const li = h("li", { "data-person": id, "data-removed": p.removed_at ? "yes" : null },
      h("span", {},
        h("strong", { id: nameId }, p.display_name), id === me ? ` (${t("staff.you")})` : null, " ", ...tags,
        h("span", { class: "small", style: "display:block" }, state)),
      actions, problem);
    if (p.removed_at || id === me) return li;
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
    if (cfg.toggle) {
      const give = !p[cfg.flag];
      actions.append(h("button", {
        class: "button button--secondary", type: "button", "aria-describedby": nameId,
        onclick: act(async () => {
          await cfg.toggle(p, give);
          const text = t(give ? "staff.admin.given" : "staff.admin.taken", { name: p.display_name });
          status.textContent = text;
          announce(text);
          await redraw();
          list.querySelector(`[data-person="${id}"] button`)?.focus();
        }),
      }, t(give ? "staff.admin.give" : "staff.admin.take")));
    }
    if (!p.signed_up) {
      actions.append(h("button", {
        class: "button button--secondary", type: "button", "aria-describedby": nameId,
        onclick: act(async () => {
          showInvite(await api("/api/invites", { method: "POST", body: { principal_id: id } }));
          await redraw();
        }),
      }, t("staff.invite.again")));
    } else {
      // A lost phone: the recovery invite ends the person's passkeys, sessions and keys at
      // once (the server does it when the invite is issued), so the button asks once more.
      const recover = h("button", { class: "button button--secondary", type: "button", "aria-describedby": nameId, "data-recover": "" }, t("recovery.issue"));
      const issue = act(async () => {
        showInvite(await api("/api/invites", { method: "POST", body: { principal_id: id, revoke_passkeys: true } }));
        await redraw();
      });
      recover.addEventListener("click", (ev) => {
        if (recover.dataset.recover === "armed") return issue(ev);
        recover.dataset.recover = "armed";
        recover.textContent = t("recovery.confirm", { name: p.display_name });
        announce(t("recovery.intro"));
      });
      actions.append(recover);
    }
    const remove = h("button", { class: "button button--warning", type: "button", "aria-describedby": nameId }, t("staff.remove"));
    remove.addEventListener("click", () => {
      const confirmId = `confirm-${id.slice(0, 8)}`;
      const yes = h("button", { class: "button button--warning", type: "button" }, t("staff.remove.yes"));
      const no = h("button", { class: "button button--secondary", type: "button" }, t("staff.remove.no"));
      const box = h("div", { class: "notice", role: "group", "aria-labelledby": confirmId },
        h("p", { id: confirmId }, t("staff.remove.confirm", { name: p.display_name })),
        h("div", { class: "actions" }, yes, no));
      actions.hidden = true;
      problem.replaceChildren(box);
      yes.focus();
      no.addEventListener("click", () => { problem.replaceChildren(); actions.hidden = false; remove.focus(); });
      yes.addEventListener("click", act(async () => {
        await api(cfg.removePath(id), { method: "DELETE" });
        const text = t("staff.removed", { name: p.display_name });
        status.textContent = text;
        announce(text);
        await redraw();
        list.closest("section").querySelector("h2").focus();
      }));
    });
    actions.append(remove);
    return li;
  }

  // The invite form: a name and the one right this screen gives.
  const nameInput = h("input", { id: "staff-name", name: "staff-name", type: "text", autocomplete: "off", maxlength: "100" });
  const flagInput = h("input", { type: "checkbox", id: "staff-flag", name: "staff-flag" });
  const submit = h("button", { class: "button", type: "submit" }, t("staff.invite.create"));
  const form = h("form", { novalidate: true },
    field({ id: "staff-name", label: t("staff.name"), input: nameInput }),
    h("div", { class: "choices" }, h("label", { class: "choice", for: "staff-flag" }, flagInput,
      h("span", {}, cfg.flagLabel, h("span", { class: "small" }, cfg.flagHint)))),
    h("p", {}, submit));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = nameInput.value.trim();
    if (!name) return showErrors(form, [{ id: "staff-name", message: t("staff.err.name") }]);
    submit.disabled = true;
    try {
      const issued = await api(cfg.invitePath, { method: "POST", body: { display_name: name, [cfg.flag]: flagInput.checked } });
      form.reset();
      showErrors(form, []);
      showInvite(issued);
      await redraw();
    } catch (err) {
      showErrors(form, [{ id: "staff-name", message: problemText(err) }]);
    } finally {
      submit.disabled = false;
    }
  });

  draw(people);
  main.append(h("div", { class: "desk" },
    h("h1", {}, cfg.title),
    h("p", { class: "no-print" }, cfg.intro),
    status,
    inviteSpot,
    h("section", { class: "card no-print", "aria-labelledby": "staff-form-title" },
      h("h2", { id: "staff-form-title" }, cfg.inviteTitle), form),
    h("section", { class: "no-print", "aria-labelledby": "staff-list-title" },
      h("h2", { id: "staff-list-title", tabindex: "-1" }, cfg.listTitle), list, removed)));
}
