"""The demo company: a believable P&L planning model to try plancube with.

``build(seed)`` returns the model ``demo`` with one cube, ``PnL``, over five dimensions:

* **Account**: a weighted P&L (``_CHART``): Net Income = EBIT + Other Income/Expense - Income Tax.
  Contra accounts have weight -1, so stored values are all positive. An alternate root, "People
  Cost (alt)", reuses Personnel leaves. Attributes ``Code`` (alias) and ``Account Type``.
* **Department** (``_ORG``): Total Company > 4 divisions > 19 departments, with a ``Manager``.
* **Month** (time): All Years > FY2025..FY2027 > quarters "2025-Q1" > months "2025-01".
* **Version** (version): Actual, Budget, Forecast, and Budget vs Actual = Budget - Actual.
* **Measure** (measure): Amount; % of Revenue, a rule (each account's amount over the
  department's revenue that month), also at every total as a consolidated rule; Comment (text).

Data: Actuals for 2025-2026; Budget for FY2026, and for FY2027 in two thirds of the departments
(that round is still open); a 2026 Forecast for a few. Amounts follow drivers (revenue with growth
and seasonality, cost per head, department spend, tax on profit) times noise from
``numpy.random.default_rng(seed)``: a seed always gives the same model.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from server.modeldef import (
    AttributeType,
    ChildRef,
    CubeDef,
    DimensionDef,
    ElementDef,
    ElementType,
    ModelDef,
    Role,
    RuleSpec,
)

YEARS = (2025, 2026, 2027)
MONTHS = [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
_MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# Chart of accounts: "name | code | account type | driver rate"; "-" is weight -1; a name listed
# again is one more child. Drivers per department and month: "sales" (seasonal revenue), "recurring"
# (steady revenue), "salary" (payroll), "head" (per head), "travel" (per head times travel share).
_CHART = """
Net Income | 9990 | Subtotal
  EBIT | 7990 | Subtotal
    Gross Margin | 5990 | Subtotal
      Revenue | 4000 | Subtotal
        Product Revenue | 4100 | Revenue | sales 0.55
        Service Revenue | 4200 | Revenue | sales 0.15
        Subscription Revenue | 4300 | Revenue | recurring 0.30
        -Discounts | 4800 | Contra Revenue | sales 0.028
        -Returns | 4900 | Contra Revenue | sales 0.011
      -COGS | 5000 | Subtotal
        Materials | 5100 | Cost of Sales | sales 0.154
        Direct Labor | 5200 | Cost of Sales | sales 0.0375
        Freight & Logistics | 5300 | Cost of Sales | sales 0.0275
        Hosting & Infrastructure | 5400 | Cost of Sales | recurring 0.036
        Third-party Licenses | 5500 | Cost of Sales | recurring 0.015
    -Operating Expenses | 6000 | Subtotal
      Personnel | 6100 | Subtotal
        Salaries & Wages | 6110 | Expense | salary 1
        Bonuses & Commissions | 6120 | Expense | salary 0.10
        Payroll Taxes | 6130 | Expense | salary 0.08
        Employee Benefits | 6140 | Expense | salary 0.12
        Pension Contributions | 6150 | Expense | salary 0.05
        Training | 6160 | Expense | salary 0.015
        Recruiting | 6170 | Expense | salary 0.02
      Facilities | 6200 | Subtotal
        Rent | 6210 | Expense | head 650
        Utilities | 6220 | Expense | head 110
        Maintenance & Repairs | 6230 | Expense | head 50
        Office Supplies | 6240 | Expense | head 35
        Insurance | 6250 | Expense | head 45
      Travel & Entertainment | 6300 | Subtotal
        Airfare | 6310 | Expense | travel 180
        Lodging | 6320 | Expense | travel 150
        Meals & Entertainment | 6330 | Expense | travel 90
        Ground Transport | 6340 | Expense | travel 50
      Marketing | 6400 | Subtotal
        Advertising | 6410 | Expense
        Events & Trade Shows | 6420 | Expense
        Digital Marketing | 6430 | Expense
      IT & Software | 6500 | Subtotal
        Software Licenses | 6510 | Expense | head 140
        Cloud Services | 6520 | Expense | head 40
        Hardware | 6530 | Expense | head 70
        Telecom | 6540 | Expense | head 45
      Professional Services | 6600 | Subtotal
        Legal Fees | 6610 | Expense
        Audit & Accounting | 6620 | Expense
        Consulting | 6630 | Expense
      Other Opex | 6900 | Subtotal
        Bank Fees | 6910 | Expense
        Dues & Subscriptions | 6920 | Expense | head 20
        Postage & Courier | 6930 | Expense | head 8
        Miscellaneous | 6990 | Expense | head 25
    -Depreciation & Amortization | 7000 | Subtotal
      Depreciation | 7100 | Depreciation
      Amortization | 7200 | Depreciation
  Other Income/Expense | 8000 | Subtotal
    Interest Income | 8100 | Other Income
    -Interest Expense | 8200 | Other Expense
    FX Gain/Loss | 8300 | Other Income
  -Income Tax | 9000 | Subtotal
    Current Tax | 9100 | Tax
    Deferred Tax | 9200 | Tax
People Cost (alt) | 6199 | Subtotal
  Salaries & Wages
  Payroll Taxes
  Employee Benefits
  Pension Contributions
"""

# Department specific spend, in millions per year (2025), on top of the drivers.
_EXTRAS = """
Marketing: Advertising 2.4, Events & Trade Shows 1.4, Digital Marketing 2.4
Sales North America: Events & Trade Shows 0.2
Sales EMEA: Events & Trade Shows 0.15
Platform Engineering: Cloud Services 1.5, Consulting 0.6, Amortization 0.9
Application Engineering: Cloud Services 0.8, Third-party Licenses 0.2
Data Science: Cloud Services 0.4
Manufacturing: Maintenance & Repairs 0.6, Insurance 0.3, Depreciation 1.2
Supply Chain: Consulting 0.2, Freight & Logistics 0.3
Facilities Management: Rent 1.0, Utilities 0.3, Maintenance & Repairs 0.4, Insurance 0.4
Facilities Management: Depreciation 0.8
Finance: Bank Fees 0.12, Audit & Accounting 0.45, Consulting 0.15
Finance: Interest Income 0.4, Interest Expense 1.0, FX Gain/Loss 0.15
Human Resources: Recruiting 0.4, Training 0.2
Legal: Legal Fees 0.9
Information Technology: Software Licenses 0.9, Cloud Services 0.6, Hardware 0.3, Telecom 0.2
Information Technology: Depreciation 0.4, Amortization 0.3
"""

# Organisation: "name | manager | heads (Jan 2025) | salary | travel intensity | revenue share".
_ORG = """
Total Company | Robert Hale
  Sales & Marketing | Maria Lopez
    Sales North America | John Carter | 40 | 92000 | 3.0 | 0.42
    Sales EMEA | Claire Dubois | 28 | 88000 | 3.0 | 0.30
    Sales APAC | Kenji Sato | 16 | 84000 | 3.5 | 0.16
    Inside Sales | Laura Novak | 20 | 62000 | 0.5 | 0.12
    Marketing | Priya Shah | 18 | 82000 | 1.5 | 0
    Customer Success | Omar Haddad | 22 | 70000 | 1.2 | 0
  R&D | Dev Patel
    Product Management | Sofia Rossi | 12 | 118000 | 1.0 | 0
    Platform Engineering | Lukas Weber | 45 | 122000 | 0.4 | 0
    Application Engineering | Mei Chen | 38 | 115000 | 0.4 | 0
    Quality Assurance | Ravi Kumar | 15 | 88000 | 0.3 | 0
    Data Science | Elena Petrova | 10 | 125000 | 0.5 | 0
  Operations | Tom Becker
    Manufacturing | Carlos Mendes | 60 | 52000 | 0.2 | 0
    Supply Chain | Ingrid Larsen | 18 | 66000 | 1.0 | 0
    Customer Support | Fatima Zahra | 25 | 50000 | 0.2 | 0
    Facilities Management | Peter Novak | 8 | 58000 | 0.5 | 0
  G&A | Anna Schmidt
    Finance | Hannah Kim | 14 | 95000 | 0.6 | 0
    Human Resources | Grace Owusu | 9 | 78000 | 0.6 | 0
    Legal | David Levi | 5 | 140000 | 0.8 | 0
    Information Technology | Ana Silva | 12 | 98000 | 0.4 | 0
"""


class _Dept(NamedTuple):
    name: str
    heads: float
    salary: float
    travel: float
    revenue: float


_NO_BUDGET_2027 = {"Quality Assurance", "Data Science", "Supply Chain", "Customer Support"}
_NO_BUDGET_2027 |= {"Human Resources", "Legal"}
_FORECAST_DEPTS = {"Sales North America", "Sales EMEA", "Marketing", "Platform Engineering"}
_COMMENTS = [
    ("Sales North America", "Product Revenue", "2025-12", "Year-end deal with Contoso closed"),
    ("Marketing", "Events & Trade Shows", "2025-10", "Annual user conference in Lisbon"),
    ("Human Resources", "Recruiting", "2026-02", "Agency fees for the engineering hiring push"),
    ("Finance", "FX Gain/Loss", "2026-03", "EUR strengthened after the ECB decision"),
]
GROSS_REVENUE_2025 = 155e6  # yearly, before discounts and returns
_SEASON = np.array([0.86, 0.90, 1.02, 0.94, 0.97, 1.04, 0.92, 0.88, 1.05, 1.02, 1.08, 1.32])
# Per version: relative noise, plan uplift over the drivers, rounding step.
_STYLE = {"Actual": (0.04, 1.0, 0.01), "Budget": (0.01, 1.03, 100), "Forecast": (0.02, 1.0, 10)}
_TRAVEL_SEASON = np.array([0.8, 1.0, 1.1, 1.1, 1.1, 1.0, 0.8, 0.6, 1.1, 1.2, 1.2, 0.7])


def build(seed: int = 7) -> ModelDef:
    """The demo company model, with data drawn from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(MONTHS))  # months since 2025-01
    depts = [_Dept(n, *map(float, f[1:5])) for n, _, _, _, f in _tree(_ORG) if f[1]]
    budget_2027 = [d for d in depts if d.name not in _NO_BUDGET_2027]
    forecast = [d for d in depts if d.name in _FORECAST_DEPTS]
    rows = _version_rows("Actual", rng, depts, t[:24])
    rows += _version_rows("Budget", rng, depts, t[12:24])
    rows += _version_rows("Budget", rng, budget_2027, t[24:])
    rows += _version_rows("Forecast", rng, forecast, t[12:24])
    rows += [["Actual", d, a, m, "Comment", note] for d, a, m, note in _COMMENTS]
    text, alias = AttributeType.text, AttributeType.alias
    versions = "Actual\nBudget\nForecast\nBudget vs Actual\n  Budget\n  -Actual"
    measures = [
        ElementDef(name="Amount"),
        ElementDef(name="% of Revenue"),
        ElementDef(name="Comment", type=ElementType.text),
    ]
    dims = [
        _dimension("Version", versions, {}, Role.version),
        _dimension("Department", _ORG, {"Manager": text}),
        _dimension("Account", _CHART, {"Code": alias, "Account Type": text}),
        _dimension("Month", _month_tree(), {"Label": alias}, Role.time),
        DimensionDef(name="Measure", role=Role.measure, elements=measures),
    ]
    share = RuleSpec(
        name="% of revenue",
        target="% of Revenue",
        formula='=IFERROR(Amount / DB("PnL", "Revenue", "Amount"), 0)',
    )
    # the same ratio at every total (EBIT margin of a division over a year), not a sum of ratios
    share_of_totals = share.model_copy(
        update={"name": "% of revenue, totals", "level": "consolidated"}
    )
    cube = CubeDef(
        name="PnL",
        dimensions=[d.name for d in dims],
        description="Monthly P&L",
        rules=[share, share_of_totals],
    )
    doc = "Demo company: monthly P&L by department with actuals, budget and forecast"
    return ModelDef(name="demo", description=doc, dimensions=dims, cubes=[cube], data={"PnL": rows})


def _tree(text: str) -> list[tuple[str, str | None, float, float, list[str]]]:
    """Tree text as (name, parent, weight, sign in the root, fields padded with "") per line."""
    out: list[tuple[str, str | None, float, float, list[str]]] = []
    path: list[tuple[str, float]] = []  # (name, sign) of the open ancestors
    for line in text.strip("\n").splitlines():
        name, *fields = line.strip().split(" | ")
        weight = -1.0 if name.startswith("-") else 1.0
        del path[(len(line) - len(line.lstrip())) // 2 :]
        parent, sign = path[-1] if path else (None, 1.0)
        path.append((name.lstrip("-"), sign * weight))
        out.append((name.lstrip("-"), parent, weight, sign * weight, fields + [""] * 5))
    return out


def _dimension(
    name: str, text: str, attributes: dict[str, AttributeType], role: Role | None = None
) -> DimensionDef:
    """A dimension from tree text; the first fields of a line are the element's attributes."""
    tree = _tree(text)
    elements: dict[str, ElementDef] = {}
    for e, _, _, _, fields in tree:
        values: dict[str, str | float | None] = dict(zip(attributes, fields, strict=False))
        children = [ChildRef(name=c, weight=w) for c, p, w, _, _ in tree if p == e]
        elements.setdefault(e, ElementDef(name=e, children=children, attributes=values))
    return DimensionDef(name=name, role=role, attributes=attributes, elements=[*elements.values()])


def _month_tree() -> str:
    lines = ["All Years | 2025-2027"]
    for y in YEARS:
        lines.append(f"  FY{y} | {y}")
        for q in range(1, 5):
            lines.append(f"    {y}-Q{q} | Q{q} {y}")
            months = range(3 * q - 2, 3 * q + 1)
            lines += [f"      {y}-{m:02d} | {_MONTH_NAMES[m - 1]} {y}" for m in months]
    return "\n".join(lines)


def _amounts(dept: _Dept, t: np.ndarray, plan: float) -> dict[str, np.ndarray]:
    """A department's amounts per account for months ``t``, before noise."""
    heads = dept.heads * (1 + 0.005 * t) * (1 + (plan - 1) / 3)  # plans hire a little more
    revenue = GROSS_REVENUE_2025 / 12 * dept.revenue * 1.011**t * plan
    base = {
        "sales": revenue * _SEASON[t % 12],
        "recurring": revenue * (0.94 + 0.005 * t),
        "salary": heads * dept.salary / 12 * 1.03 ** (t // 12),  # raises every January
        "head": heads,
        "travel": heads * dept.travel * _TRAVEL_SEASON[t % 12],
    }
    out: dict[str, np.ndarray] = {}
    for name, _, _, _, (_, _, driver, *_) in _tree(_CHART):
        if driver:
            kind, rate = driver.split()
            commission = 2.5 if name == "Bonuses & Commissions" and dept.revenue else 1.0
            out[name] = base[kind] * float(rate) * commission
    for line in _EXTRAS.strip().splitlines():
        name, items = line.split(": ")
        for item in items.split(", ") if name == dept.name else []:
            account, millions = item.rsplit(" ", 1)
            out[account] = out.get(account, 0) + float(millions) * 1e6 / 12 * 1.04 ** (t // 12)
    return {account: values for account, values in out.items() if values.any()}


def _version_rows(
    version: str, rng: np.random.Generator, depts: list[_Dept], t: np.ndarray
) -> list[list[str | float | None]]:
    """One version's rows for months ``t``, with the tax Finance books on their pre-tax profit."""
    noise, plan, step = _STYLE[version]
    signs = {name: sign for name, _, _, sign, _ in reversed(_tree(_CHART))}  # first listing
    profit = np.zeros(len(t))
    amounts: list[tuple[str, str, np.ndarray]] = []
    for dept in depts:
        for account, values in _amounts(dept, t, plan).items():
            values = values * np.clip(1 + noise * rng.standard_normal(len(t)), 0.8, 1.2)
            amounts.append((dept.name, account, values))
            profit += signs[account] * values
    if any(d.name == "Finance" for d in depts):
        factor = np.clip(1 + noise * rng.standard_normal((2, len(t))), 0.8, 1.2)
        amounts.append(("Finance", "Current Tax", 0.21 * profit * factor[0]))
        amounts.append(("Finance", "Deferred Tax", 0.04 * profit * factor[1]))
    return [
        [version, dept, account, MONTHS[m], "Amount", round(float(np.round(v / step) * step), 2)]
        for dept, account, values in amounts
        for m, v in zip(t, values, strict=True)
        if v >= step
    ]
