/**
 * The web grid's entry point: signs in (account.ts: GET /api/auth/me, else the sign-in form),
 * then wires the API client, the grid (through its adapter), the view picker, the side panel and
 * the status bar, the upload dialog (import/dialog.ts: "Import…", for those who may write), and
 * the admin page (`#admin`, for those who may use it) in the grid's place.
 */

import { Account } from "./account";
import { Api } from "./api";
import { AdminPage } from "./admin/page";
import { GridApp } from "./app";
import { createGrid } from "./grid/adapter";
import { ImportDialog } from "./import/dialog";
import { CellPanel } from "./panel";
import { ViewPicker } from "./picker";
import { SignInForm } from "./signin";
import { Status } from "./status";
import "./styles.css";

function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`index.html has no #${id}`);
  return node;
}

async function main(): Promise<void> {
  const api = new Api();
  const status = new Status(byId("status"));
  let app: GridApp | null = null;
  const account = new Account(byId("account"), api, new SignInForm(document.body, api), {
    signedInAgain: () => app?.resume(),
    unsaved: () => app?.unsaved ?? 0,
  });
  try {
    await account.start();
  } catch (exc) {
    status.show("error", `Could not reach the server: ${String(exc)}`);
    return;
  }
  const panel = new CellPanel(byId("panel"), api, {
    takeTheirs: (key) => app?.takeTheirs(key),
    overwrite: (key) => app?.overwrite(key),
  });
  app = new GridApp(api, createGrid(byId("grid")), status, panel);
  app.roleOf = (model) => account.roleOf(model);
  app.onDisconnected = () => account.check();
  const grid = app;
  const importer = new ImportDialog(document.body, api, {
    mayWrite: (model) => account.serverAdmin || ["planner", "modeler", "admin"].includes(account.roleOf(model) ?? ""),
    imported: () => grid.refresh(),
  });
  byId("account").before(importer.button);
  app.onJob = (job) => importer.jobMessage(job);
  const admin = new AdminPage(byId("admin"), api, account);
  const route = () => {
    const adminShown = location.hash === "#admin" && account.mayAdminister;
    byId("admin").hidden = !adminShown;
    for (const id of ["picker", "status"]) byId(id).hidden = adminShown;
    importer.button.toggleAttribute("data-admin-page", adminShown);
    document.querySelector("main")?.toggleAttribute("hidden", adminShown);
    if (adminShown) void admin.open();
    else window.dispatchEvent(new Event("resize")); // the grid measures itself again
  };
  window.addEventListener("hashchange", route);
  route();
  const picker = new ViewPicker(byId("picker"), api, (selection) => {
    grid.open(selection);
    importer.setTarget(selection);
  });
  try {
    await picker.start();
  } catch (exc) {
    status.show("error", `Could not load the models: ${String(exc)}`);
  }
}

void main();
