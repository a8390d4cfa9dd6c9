"""The demo company: a believable P&L planning model to try plancube with.

``build(seed)`` returns the model ``demo`` with one cube, ``PnL``, over five dimensions:

* **Account**: a P&L of weighted rollups. Net Income = EBIT + Other Income/Expense - Income Tax;
  EBIT = Gross Margin - Operating Expenses - D&A; Gross Margin = Revenue - COGS. Discounts,
  Returns and Interest Expense carry weight -1, so every stored value is positive and the weights
  give the signs. An alternate root, "People Cost (alt)", reuses some Personnel leaves (elements
  with two parents). Attributes: ``Code`` (alias, the chart-of-accounts number), ``Account Type``.
* **Department**: Total Company, four divisions, 19 departments, each with a ``Manager``.
* **Month** (time): All Years > FY2025..FY2027 > quarters > months "2025-01".."2027-12".
* **Version** (version): Actual, Budget, Forecast, and Budget vs Actual = Budget - Actual.
* **Measure** (measure): Amount (numeric) and Comment (text).

Data: Actuals for 2025-2026 in every department, a FY2027 Budget for about two thirds of the
departments (a budget round still in progress) and a 2026 Forecast for a few. Amounts follow
drivers: revenue per sales department with growth and seasonality, personnel and overhead per
head, department specific spend (marketing programs, audit, interest, depreciation); tax is booked
by Finance on the version's pre-tax profit. Noise comes from ``numpy.random.default_rng(seed)``,
so a seed always gives the same model.
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
)

YEARS = (2025, 2026, 2027)
MONTHS = [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
_MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

# name, code, account type, parent, weight in the parent; parents are listed before children.
_ACCOUNTS: list[tuple[str, str, str, str | None, float]] = [
    ("Net Income", "9990", "Subtotal", None, 1),
    ("EBIT", "7990", "Subtotal", "Net Income", 1),
    ("Gross Margin", "5990", "Subtotal", "EBIT", 1),
    ("Revenue", "4000", "Subtotal", "Gross Margin", 1),
    ("Product Revenue", "4100", "Revenue", "Revenue", 1),
    ("Service Revenue", "4200", "Revenue", "Revenue", 1),
    ("Subscription Revenue", "4300", "Revenue", "Revenue", 1),
    ("Discounts", "4800", "Contra Revenue", "Revenue", -1),
    ("Returns", "4900", "Contra Revenue", "Revenue", -1),
    ("COGS", "5000", "Subtotal", "Gross Margin", -1),
    ("Materials", "5100", "Cost of Sales", "COGS", 1),
    ("Direct Labor", "5200", "Cost of Sales", "COGS", 1),
    ("Freight & Logistics", "5300", "Cost of Sales", "COGS", 1),
    ("Hosting & Infrastructure", "5400", "Cost of Sales", "COGS", 1),
    ("Third-party Licenses", "5500", "Cost of Sales", "COGS", 1),
    ("Operating Expenses", "6000", "Subtotal", "EBIT", -1),
    ("Personnel", "6100", "Subtotal", "Operating Expenses", 1),
    ("Salaries & Wages", "6110", "Expense", "Personnel", 1),
    ("Bonuses & Commissions", "6120", "Expense", "Personnel", 1),
    ("Payroll Taxes", "6130", "Expense", "Personnel", 1),
    ("Employee Benefits", "6140", "Expense", "Personnel", 1),
    ("Pension Contributions", "6150", "Expense", "Personnel", 1),
    ("Training", "6160", "Expense", "Personnel", 1),
    ("Recruiting", "6170", "Expense", "Personnel", 1),
    ("Facilities", "6200", "Subtotal", "Operating Expenses", 1),
    ("Rent", "6210", "Expense", "Facilities", 1),
    ("Utilities", "6220", "Expense", "Facilities", 1),
    ("Maintenance & Repairs", "6230", "Expense", "Facilities", 1),
    ("Office Supplies", "6240", "Expense", "Facilities", 1),
    ("Insurance", "6250", "Expense", "Facilities", 1),
    ("Travel & Entertainment", "6300", "Subtotal", "Operating Expenses", 1),
    ("Airfare", "6310", "Expense", "Travel & Entertainment", 1),
    ("Lodging", "6320", "Expense", "Travel & Entertainment", 1),
    ("Meals & Entertainment", "6330", "Expense", "Travel & Entertainment", 1),
    ("Ground Transport", "6340", "Expense", "Travel & Entertainment", 1),
    ("Marketing", "6400", "Subtotal", "Operating Expenses", 1),
    ("Advertising", "6410", "Expense", "Marketing", 1),
    ("Events & Trade Shows", "6420", "Expense", "Marketing", 1),
    ("Digital Marketing", "6430", "Expense", "Marketing", 1),
    ("Sponsorships", "6440", "Expense", "Marketing", 1),
    ("Marketing Materials", "6450", "Expense", "Marketing", 1),
    ("IT & Software", "6500", "Subtotal", "Operating Expenses", 1),
    ("Software Licenses", "6510", "Expense", "IT & Software", 1),
    ("Cloud Services", "6520", "Expense", "IT & Software", 1),
    ("Hardware", "6530", "Expense", "IT & Software", 1),
    ("Telecom", "6540", "Expense", "IT & Software", 1),
    ("Professional Services", "6600", "Subtotal", "Operating Expenses", 1),
    ("Legal Fees", "6610", "Expense", "Professional Services", 1),
    ("Audit & Accounting", "6620", "Expense", "Professional Services", 1),
    ("Consulting", "6630", "Expense", "Professional Services", 1),
    ("Other Opex", "6900", "Subtotal", "Operating Expenses", 1),
    ("Bank Fees", "6910", "Expense", "Other Opex", 1),
    ("Dues & Subscriptions", "6920", "Expense", "Other Opex", 1),
    ("Postage & Courier", "6930", "Expense", "Other Opex", 1),
    ("Miscellaneous", "6990", "Expense", "Other Opex", 1),
    ("Depreciation & Amortization", "7000", "Subtotal", "EBIT", -1),
    ("Depreciation", "7100", "Depreciation", "Depreciation & Amortization", 1),
    ("Amortization", "7200", "Depreciation", "Depreciation & Amortization", 1),
    ("Other Income/Expense", "8000", "Subtotal", "Net Income", 1),
    ("Interest Income", "8100", "Other Income", "Other Income/Expense", 1),
    ("Interest Expense", "8200", "Other Expense", "Other Income/Expense", -1),
    ("FX Gain/Loss", "8300", "Other Income", "Other Income/Expense", 1),
    ("Income Tax", "9000", "Subtotal", "Net Income", -1),
    ("Current Tax", "9100", "Tax", "Income Tax", 1),
    ("Deferred Tax", "9200", "Tax", "Income Tax", 1),
]
PEOPLE_ALT = "People Cost (alt)"
_PEOPLE_ALT_CHILDREN = ["Salaries & Wages", "Bonuses & Commissions", "Payroll Taxes",
                        "Employee Benefits", "Pension Contributions"]


class _Dept(NamedTuple):
    name: str
    division: str
    manager: str
    heads: int  # headcount in January 2025
    salary: float  # average yearly salary in 2025
    travel: float  # travel intensity, 1 = average
    revenue: float  # share of company revenue


_DIVISIONS = {"Sales & Marketing": "Maria Lopez", "R&D": "Dev Patel",
              "Operations": "Tom Becker", "G&A": "Anna Schmidt"}
_DEPTS = [
    _Dept("Sales North America", "Sales & Marketing", "John Carter", 40, 92_000, 3.0, 0.38),
    _Dept("Sales EMEA", "Sales & Marketing", "Claire Dubois", 28, 88_000, 3.0, 0.27),
    _Dept("Sales APAC", "Sales & Marketing", "Kenji Sato", 16, 84_000, 3.5, 0.14),
    _Dept("Inside Sales", "Sales & Marketing", "Laura Novak", 20, 62_000, 0.5, 0.11),
    _Dept("Marketing", "Sales & Marketing", "Priya Shah", 18, 82_000, 1.5, 0.0),
    _Dept("Customer Success", "Sales & Marketing", "Omar Haddad", 22, 70_000, 1.2, 0.10),
    _Dept("Product Management", "R&D", "Sofia Rossi", 12, 118_000, 1.0, 0.0),
    _Dept("Platform Engineering", "R&D", "Lukas Weber", 45, 122_000, 0.4, 0.0),
    _Dept("Application Engineering", "R&D", "Mei Chen", 38, 115_000, 0.4, 0.0),
    _Dept("Quality Assurance", "R&D", "Ravi Kumar", 15, 88_000, 0.3, 0.0),
    _Dept("Data Science", "R&D", "Elena Petrova", 10, 125_000, 0.5, 0.0),
    _Dept("Manufacturing", "Operations", "Carlos Mendes", 60, 52_000, 0.2, 0.0),
    _Dept("Supply Chain", "Operations", "Ingrid Larsen", 18, 66_000, 1.0, 0.0),
    _Dept("Customer Support", "Operations", "Fatima Zahra", 25, 50_000, 0.2, 0.0),
    _Dept("Facilities Management", "Operations", "Peter Novak", 8, 58_000, 0.5, 0.0),
    _Dept("Finance", "G&A", "Hannah Kim", 14, 95_000, 0.6, 0.0),
    _Dept("Human Resources", "G&A", "Grace Owusu", 9, 78_000, 0.6, 0.0),
    _Dept("Legal", "G&A", "David Levi", 5, 140_000, 0.8, 0.0),
    _Dept("Information Technology", "G&A", "Ana Silva", 12, 98_000, 0.4, 0.0),
]
_BUDGET_SKIPS = {"Quality Assurance", "Data Science", "Supply Chain", "Customer Support",
                 "Human Resources", "Legal"}  # their FY2027 budget is not in yet
_FORECAST_DEPTS = {"Sales North America", "Sales EMEA", "Marketing", "Platform Engineering"}

GROSS_REVENUE_2025 = 205e6  # yearly, before discounts and returns
_SEASON = np.array([0.86, 0.90, 1.02, 0.94, 0.97, 1.04, 0.92, 0.88, 1.05, 1.02, 1.08, 1.32])
_TRAVEL_SEASON = np.array([0.8, 1.0, 1.1, 1.1, 1.1, 1.0, 0.8, 0.6, 1.1, 1.2, 1.2, 0.7])
_PERSONNEL = {"Bonuses & Commissions": 0.10, "Payroll Taxes": 0.08, "Employee Benefits": 0.12,
              "Pension Contributions": 0.05, "Training": 0.015, "Recruiting": 0.02}
_PER_HEAD = {"Rent": 650, "Utilities": 110, "Maintenance & Repairs": 50, "Office Supplies": 35,
             "Insurance": 45, "Software Licenses": 140, "Cloud Services": 40, "Hardware": 70,
             "Telecom": 45, "Dues & Subscriptions": 20, "Postage & Courier": 8,
             "Miscellaneous": 25}  # per head and month
_TRAVEL = {"Airfare": 180, "Lodging": 150, "Meals & Entertainment": 90, "Ground Transport": 50}
_EXTRAS: dict[str, dict[str, float]] = {  # yearly, on top of the per-head drivers
    "Marketing": {"Advertising": 2.4e6, "Events & Trade Shows": 1.2e6, "Digital Marketing": 1.8e6,
                  "Sponsorships": 0.5e6, "Marketing Materials": 0.3e6},
    "Sales North America": {"Events & Trade Shows": 0.2e6},
    "Sales EMEA": {"Events & Trade Shows": 0.15e6},
    "Platform Engineering": {"Cloud Services": 1.5e6, "Consulting": 0.6e6, "Amortization": 0.9e6},
    "Application Engineering": {"Cloud Services": 0.8e6, "Third-party Licenses": 0.2e6},
    "Data Science": {"Cloud Services": 0.4e6},
    "Manufacturing": {"Maintenance & Repairs": 0.6e6, "Insurance": 0.3e6, "Depreciation": 1.2e6},
    "Supply Chain": {"Consulting": 0.2e6, "Freight & Logistics": 0.3e6},
    "Facilities Management": {"Rent": 1.0e6, "Utilities": 0.3e6, "Maintenance & Repairs": 0.4e6,
                              "Insurance": 0.4e6, "Depreciation": 0.8e6},
    "Finance": {"Bank Fees": 0.12e6, "Audit & Accounting": 0.45e6, "Consulting": 0.15e6,
                "Interest Income": 0.4e6, "Interest Expense": 1.0e6, "FX Gain/Loss": 0.15e6},
    "Human Resources": {"Recruiting": 0.4e6, "Training": 0.2e6},
    "Legal": {"Legal Fees": 0.9e6},
    "Information Technology": {"Software Licenses": 0.9e6, "Cloud Services": 0.6e6,
                               "Hardware": 0.3e6, "Telecom": 0.2e6, "Depreciation": 0.4e6,
                               "Amortization": 0.3e6},
}
_COMMENTS = [
    ("Sales North America", "Product Revenue", "2025-12", "Year-end deal with Contoso closed Dec 29"),
    ("Marketing", "Events & Trade Shows", "2025-10", "Annual user conference in Lisbon"),
    ("Human Resources", "Recruiting", "2026-02", "Agency fees for the engineering hiring push"),
    ("Finance", "FX Gain/Loss", "2026-03", "EUR strengthened after the ECB decision"),
]


def build(seed: int = 7) -> ModelDef:
    """The demo company model, with data drawn from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(MONTHS))
    rows = _version_rows("Actual", rng, _DEPTS, t[:24], noise=0.04, plan=1.0, step=0.01)
    budget_depts = [d for d in _DEPTS if d.name not in _BUDGET_SKIPS]
    rows += _version_rows("Budget", rng, budget_depts, t[24:], noise=0.01, plan=1.03, step=100)
    forecast_depts = [d for d in _DEPTS if d.name in _FORECAST_DEPTS]
    rows += _version_rows("Forecast", rng, forecast_depts, t[12:24], noise=0.02, plan=1.0, step=10)
    rows += [["Actual", d, a, m, "Comment", text] for d, a, m, text in _COMMENTS]
    versions = DimensionDef(
        name="Version", role=Role.version,
        elements=[ElementDef(name="Actual"), ElementDef(name="Budget"), ElementDef(name="Forecast"),
                  ElementDef(name="Budget vs Actual", children=[
                      ChildRef(name="Budget", weight=1), ChildRef(name="Actual", weight=-1)])],
    )
    measures = DimensionDef(name="Measure", role=Role.measure, elements=[
        ElementDef(name="Amount"), ElementDef(name="Comment", type=ElementType.text)])
    dims = [versions, _departments(), _accounts(), _months(), measures]
    return ModelDef(
        name="demo",
        description="Demo company: monthly P&L by department with actuals, budget and forecast",
        dimensions=dims,
        cubes=[CubeDef(name="PnL", dimensions=[d.name for d in dims],
                       description="Profit and loss by version, department, account and month")],
        data={"PnL": rows},
    )


def _accounts() -> DimensionDef:
    elements = [
        ElementDef(
            name=name,
            children=[ChildRef(name=c, weight=w) for c, _, _, p, w in _ACCOUNTS if p == name],
            attributes={"Code": code, "Account Type": kind},
        )
        for name, code, kind, _, _ in _ACCOUNTS
    ]
    elements.append(ElementDef(name=PEOPLE_ALT, children=[ChildRef(name=c)
                                                          for c in _PEOPLE_ALT_CHILDREN],
                               attributes={"Code": "6199", "Account Type": "Subtotal"}))
    return DimensionDef(name="Account", elements=elements, description="Chart of accounts",
                        attributes={"Code": AttributeType.alias, "Account Type": AttributeType.text})


def _departments() -> DimensionDef:
    elements = [ElementDef(name="Total Company", children=[ChildRef(name=d) for d in _DIVISIONS],
                           attributes={"Manager": "Robert Hale"})]
    for division, manager in _DIVISIONS.items():
        kids = [ChildRef(name=d.name) for d in _DEPTS if d.division == division]
        elements.append(ElementDef(name=division, children=kids, attributes={"Manager": manager}))
    elements += [ElementDef(name=d.name, attributes={"Manager": d.manager}) for d in _DEPTS]
    return DimensionDef(name="Department", elements=elements,
                        attributes={"Manager": AttributeType.text})


def _months() -> DimensionDef:
    elements = [ElementDef(name="All Years", children=[ChildRef(name=f"FY{y}") for y in YEARS])]
    for y in YEARS:
        quarters = [f"{y}-Q{q}" for q in range(1, 5)]
        elements.append(ElementDef(name=f"FY{y}", children=[ChildRef(name=q) for q in quarters],
                                   attributes={"Label": str(y)}))
        elements += [
            ElementDef(name=q, attributes={"Label": f"Q{i + 1} {y}"},
                       children=[ChildRef(name=f"{y}-{3 * i + m:02d}") for m in (1, 2, 3)])
            for i, q in enumerate(quarters)
        ]
        elements += [ElementDef(name=f"{y}-{m:02d}", attributes={"Label": f"{_MONTH_NAMES[m - 1]} {y}"})
                     for m in range(1, 13)]
    return DimensionDef(name="Month", role=Role.time, elements=elements,
                        attributes={"Label": AttributeType.alias})


def _signs() -> dict[str, float]:
    """Each leaf account's sign in Net Income (the product of the weights on its path)."""
    signs = {"Net Income": 1.0}
    for name, _, _, parent, weight in _ACCOUNTS[1:]:
        signs[name] = signs[str(parent)] * weight
    return signs


def _amounts(dept: _Dept, t: np.ndarray, plan: float) -> dict[str, np.ndarray]:
    """A department's monthly amounts per account, before noise; ``t`` counts months from 2025-01."""
    moy, year = t % 12, t // 12
    out: dict[str, np.ndarray] = {}
    if dept.revenue:
        gross = GROSS_REVENUE_2025 / 12 * dept.revenue * 1.011**t * plan
        mix = (0.0, 0.45, 0.55) if dept.name == "Customer Success" else (0.55, 0.15, 0.30)
        product, service = gross * mix[0] * _SEASON[moy], gross * mix[1] * _SEASON[moy]
        subscription = gross * mix[2] * (0.94 + 0.005 * t)  # recurring: steady, no seasonality
        out |= {"Product Revenue": product, "Service Revenue": service,
                "Subscription Revenue": subscription, "Discounts": 0.04 * (product + service),
                "Returns": 0.02 * product, "Materials": 0.28 * product,
                "Direct Labor": 0.25 * service, "Freight & Logistics": 0.05 * product,
                "Hosting & Infrastructure": 0.12 * subscription,
                "Third-party Licenses": 0.05 * subscription}
    heads = dept.heads * (1 + 0.005 * t) * (1 + (plan - 1) / 3)
    salaries = heads * dept.salary / 12 * 1.03**year
    out["Salaries & Wages"] = salaries
    for account, rate in _PERSONNEL.items():
        commission = account == "Bonuses & Commissions" and dept.revenue > 0
        out[account] = salaries * (0.25 if commission else rate)
    out |= {account: heads * rate for account, rate in _PER_HEAD.items()}
    travel = heads * dept.travel * _TRAVEL_SEASON[moy]
    out |= {account: travel * rate for account, rate in _TRAVEL.items()}
    for account, yearly in _EXTRAS.get(dept.name, {}).items():
        out[account] = out.get(account, 0) + yearly / 12 * 1.04**year * np.ones(len(t))
    return {a: v for a, v in out.items() if v.any()}


def _version_rows(version: str, rng: np.random.Generator, depts: list[_Dept], t: np.ndarray,
                  noise: float, plan: float, step: float) -> list[list[str | float | None]]:
    """Rows of one version: every department's amounts with noise, plus Finance's income tax."""
    signs = _signs()
    profit = np.zeros(len(t))
    amounts: list[tuple[str, str, np.ndarray]] = []
    for dept in depts:
        for account, values in _amounts(dept, t, plan).items():
            values = values * np.clip(1 + noise * rng.standard_normal(len(t)), 0.8, 1.2)
            amounts.append((dept.name, account, values))
            profit += signs[account] * values
    if "Finance" in {d.name for d in depts}:
        taxes = np.clip(1 + noise * rng.standard_normal((2, len(t))), 0.8, 1.2)
        amounts.append(("Finance", "Current Tax", 0.21 * profit * taxes[0]))
        amounts.append(("Finance", "Deferred Tax", 0.04 * profit * taxes[1]))
    return [
        [version, dept, account, MONTHS[m], "Amount", round(float(np.round(v / step) * step), 2)]
        for dept, account, values in amounts
        for m, v in zip(t, values, strict=True)
        if v >= step
    ]
