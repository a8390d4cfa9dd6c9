/**
 * The view picker: model, cube, the dimension and members on rows and on columns, and one
 * element for every other dimension (page filters such as Version and Department).
 *
 * The choice lives in the page's address (`?model=demo&cube=PnL&rows=Account:descendants(Net
 * Income)&columns=Month:descendants(FY2027)&Version=Budget&Department=Marketing`) so a view can
 * be bookmarked and shared. Without one, the picker proposes: the largest plain dimension as a
 * tree on rows, the time dimension (or the next largest) as a tree on columns, and the first leaf
 * of every other dimension, so the first view opened is one a planner can type into.
 */

import type { Api, CubeInfo, DimensionInfo, ElementInfo } from "./api";
import { el } from "./dom";
import type { AxisSpec, ViewSpec } from "./view";

export interface Selection {
  model: string;
  cube: string;
  /** The cube's dimensions in cube order. */
  dimensions: string[];
  spec: ViewSpec;
}

const RESERVED = new Set(["model", "cube", "rows", "columns"]);

interface Tree {
  names: string[];
  depth: number[];
  firstLeaf: string;
  firstRoot: string;
}

export class ViewPicker {
  private model = "";
  private cube: CubeInfo | null = null;
  private roles = new Map<string, string | null>();
  private trees = new Map<string, Tree>();
  private rows: AxisSpec = { dimension: "", members: "" };
  private columns: AxisSpec = { dimension: "", members: "" };
  private filters: Record<string, string> = {};
  private readonly form = el("form", { class: "picker", autocomplete: "off" });

  constructor(
    host: HTMLElement,
    private readonly api: Api,
    private readonly changed: (selection: Selection) => void,
  ) {
    host.append(this.form);
    this.form.addEventListener("submit", (e) => e.preventDefault());
  }

  /** Open the view named in the page address, or a proposed one. */
  async start(): Promise<void> {
    const query = new URLSearchParams(location.search);
    const models = await this.api.models();
    if (models.length === 0) {
      this.form.replaceChildren(
        el("span", {}, "No models to show: load one (see the README), or ask an admin for a role in one."),
      );
      return;
    }
    const model = models.find((m) => m.name === query.get("model")) ?? models[0];
    await this.openModel(model.name, models.map((m) => m.name), query);
  }

  private async openModel(model: string, models: string[], query: URLSearchParams): Promise<void> {
    this.model = model;
    const [cubes, dimensions] = await Promise.all([this.api.cubes(model), this.api.dimensions(model)]);
    this.roles = new Map(dimensions.map((d: DimensionInfo) => [d.name, d.role]));
    const cube = cubes.find((c) => c.name === query.get("cube")) ?? cubes[0];
    if (cube === undefined) {
      this.form.replaceChildren(el("span", {}, `Model ${model} has no cube yet.`));
      return;
    }
    await this.openCube(cube, query);
    this.render(models, cubes);
    this.emit();
  }

  private async openCube(cube: CubeInfo, query: URLSearchParams): Promise<void> {
    this.cube = cube;
    const elements = await Promise.all(cube.dimensions.map((d) => this.api.elements(this.model, d)));
    this.trees = new Map(cube.dimensions.map((d, i) => [d, treeOf(elements[i])]));
    const axis = (param: string | null): AxisSpec | null => {
      if (param === null) return null;
      const colon = param.indexOf(":");
      const dimension = colon < 0 ? param : param.slice(0, colon);
      if (!this.trees.has(dimension)) return null;
      return { dimension, members: colon < 0 ? this.tree(dimension) : param.slice(colon + 1) };
    };
    // Proposed axes fill in what the address leaves out, never the dimension it put elsewhere.
    const [rows, columns] = this.proposeAxes();
    const askedRows = axis(query.get("rows"));
    const askedColumns = axis(query.get("columns"));
    this.rows = askedRows ?? (askedColumns?.dimension === rows.dimension ? columns : rows);
    this.columns = askedColumns ?? (this.rows.dimension === columns.dimension ? rows : columns);
    this.filters = {};
    for (const d of this.filterDimensions()) {
      const asked = query.get(d);
      const tree = this.trees.get(d);
      this.filters[d] = asked !== null && tree?.names.includes(asked) ? asked : (tree?.firstLeaf ?? "");
    }
  }

  private proposeAxes(): [AxisSpec, AxisSpec] {
    const dims = [...(this.cube?.dimensions ?? [])];
    const size = (d: string) => this.trees.get(d)?.names.length ?? 0;
    const time = dims.find((d) => this.roles.get(d) === "time");
    const plain = dims.filter((d) => !this.roles.get(d)).sort((a, b) => size(b) - size(a));
    const rest = dims.filter((d) => d !== time).sort((a, b) => size(b) - size(a));
    const rowDim = plain[0] ?? rest[0] ?? dims[0];
    const colDim = time ?? rest.find((d) => d !== rowDim) ?? dims.find((d) => d !== rowDim) ?? rowDim;
    return [
      { dimension: rowDim, members: this.tree(rowDim) },
      { dimension: colDim, members: this.tree(colDim) },
    ];
  }

  private tree(dimension: string): string {
    return `descendants(${this.trees.get(dimension)?.firstRoot ?? ""})`;
  }

  private filterDimensions(): string[] {
    const axes = new Set([this.rows.dimension, this.columns.dimension]);
    return (this.cube?.dimensions ?? []).filter((d) => !axes.has(d));
  }

  private render(models: string[], cubes: CubeInfo[]): void {
    const dims = this.cube?.dimensions ?? [];
    const model = select("model", models, this.model);
    model.addEventListener("change", () => void this.openModel(model.value, models, new URLSearchParams()));
    const cube = select("cube", cubes.map((c) => c.name), this.cube?.name ?? "");
    cube.addEventListener("change", async () => {
      const chosen = cubes.find((c) => c.name === cube.value);
      if (chosen === undefined) return;
      await this.openCube(chosen, new URLSearchParams());
      this.render(models, cubes);
      this.emit();
    });
    const axisControls = (name: "rows" | "columns", label: string) => {
      const axis = this[name];
      const dim = select(`${name}-dimension`, dims, axis.dimension);
      const members = el("input", { name: `${name}-members`, value: axis.members, size: "24" });
      dim.addEventListener("change", () => {
        this.setAxis(name, dim.value);
        this.render(models, cubes);
        this.emit();
      });
      members.addEventListener("change", () => {
        this[name] = { dimension: axis.dimension, members: members.value.trim() || this.tree(axis.dimension) };
        this.emit();
      });
      return el("label", { class: "axis" }, label, dim, members);
    };
    const filters = this.filterDimensions().map((d) => {
      const tree = this.trees.get(d);
      const choice = el(
        "select",
        { name: `filter-${d}` },
        (tree?.names ?? []).map((n, i) => {
          const option = el("option", { value: n }, "\u2003".repeat(tree?.depth[i] ?? 0) + n);
          option.selected = n === this.filters[d];
          return option;
        }),
      );
      choice.addEventListener("change", () => {
        this.filters[d] = choice.value;
        this.emit();
      });
      return el("label", { class: "filter" }, d, choice);
    });
    this.form.replaceChildren(
      el("label", {}, "Model", model),
      el("label", {}, "Cube", cube),
      axisControls("rows", "Rows"),
      axisControls("columns", "Columns"),
      ...filters,
    );
  }

  /** Put a dimension on an axis; the one it replaces becomes a filter (or swaps axes). */
  private setAxis(name: "rows" | "columns", dimension: string): void {
    const other = name === "rows" ? "columns" : "rows";
    const before = this[name];
    this[name] = { dimension, members: this.tree(dimension) };
    if (this[other].dimension === dimension) this[other] = before;
    delete this.filters[dimension];
    for (const d of this.filterDimensions()) {
      this.filters[d] ??= this.trees.get(d)?.firstLeaf ?? "";
    }
  }

  private emit(): void {
    if (this.cube === null) return;
    const spec: ViewSpec = {
      rows: [this.rows],
      columns: [this.columns],
      filters: { ...this.filters },
    };
    const query = new URLSearchParams({
      model: this.model,
      cube: this.cube.name,
      rows: `${this.rows.dimension}:${this.rows.members}`,
      columns: `${this.columns.dimension}:${this.columns.members}`,
    });
    for (const [d, e] of Object.entries(this.filters)) if (!RESERVED.has(d)) query.set(d, e);
    history.replaceState(null, "", `?${query}`);
    this.changed({ model: this.model, cube: this.cube.name, dimensions: this.cube.dimensions, spec });
  }
}

function select(name: string, options: string[], chosen: string): HTMLSelectElement {
  const node = el("select", { name }, options.map((o) => el("option", { value: o }, o)));
  node.value = chosen;
  return node;
}

/** Elements in tree order (each parent before its children) with their depth. */
function treeOf(elements: ElementInfo[]): Tree {
  const byName = new Map(elements.map((e) => [e.name, e]));
  const names: string[] = [];
  const depth: number[] = [];
  const seen = new Set<string>();
  const visit = (e: ElementInfo, d: number) => {
    if (seen.has(e.name)) return;
    seen.add(e.name);
    names.push(e.name);
    depth.push(d);
    for (const child of e.children) {
      const next = byName.get(child.name);
      if (next) visit(next, d + 1);
    }
  };
  const roots = elements.filter((e) => e.parents.length === 0);
  for (const root of roots) visit(root, 0);
  // The first leaf as the modeller ordered the elements (e.g. Actual before Budget).
  const firstLeaf = elements.find((e) => e.leaf)?.name ?? names[0] ?? "";
  return { names, depth, firstLeaf, firstRoot: roots[0]?.name ?? names[0] ?? "" };
}
