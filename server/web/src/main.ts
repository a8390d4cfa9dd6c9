/**
 * The web grid's entry point: wires the API client, the grid (through its adapter), the view
 * picker, the side panel and the status bar. The acting user is typed into the header and kept
 * in localStorage until sign-in arrives.
 */

import { Api } from "./api";
import { GridApp } from "./app";
import { createGrid } from "./grid/adapter";
import { CellPanel } from "./panel";
import { ViewPicker } from "./picker";
import { Status } from "./status";
import "./styles.css";

const USER_KEY = "plancube.user";

function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`index.html has no #${id}`);
  return node;
}

function userField(): () => string {
  const input = byId("user") as HTMLInputElement;
  input.value = localStorage.getItem(USER_KEY) || "planner";
  input.addEventListener("change", () => {
    input.value = input.value.trim() || "planner";
    localStorage.setItem(USER_KEY, input.value);
  });
  return () => input.value;
}

async function main(): Promise<void> {
  const api = new Api(userField());
  const status = new Status(byId("status"));
  let app: GridApp | null = null;
  const panel = new CellPanel(byId("panel"), api, {
    takeTheirs: (key) => app?.takeTheirs(key),
    overwrite: (key) => app?.overwrite(key),
  });
  app = new GridApp(api, createGrid(byId("grid")), status, panel);
  const grid = app;
  const picker = new ViewPicker(byId("picker"), api, (selection) => grid.open(selection));
  try {
    await picker.start();
  } catch (exc) {
    status.show("error", `Could not load the models: ${String(exc)}`);
  }
}

void main();
