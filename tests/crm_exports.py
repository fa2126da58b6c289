"""Small CRM exports in each vendor's documented format, written by the tests themselves (no customer data).

Each writer's docstring gives the stage history keyfunnel must derive, worked out by hand; test_crm.py checks it.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import write_csv

SALESFORCE_OPPORTUNITY = ["Id", "Name", "Account Name", "StageName", "Amount", "CloseDate", "CreatedDate", "IsClosed",
                          "IsWon", "OwnerId", "Probability", "ForecastCategoryName"]
SALESFORCE_HISTORY = ["OpportunityId", "StageName", "Amount", "CloseDate", "Probability", "CreatedDate"]


def salesforce(folder: Path) -> tuple[Path, Path]:
    """Four opportunities and their OpportunityHistory (27 rows, 21 stage changes once mapped).

    006A won: 1 2 3 4 5 6 7 8; an amount-only row, and Perception Analysis → Proposal/Price Quote (both stage 6).
    006B lost at 3: 1 2 3 2 3, a backward move and a close-date-only row.
    006C open at 7: 1 2 3 4 5 6 7, with an amount-only row.
    006D open, created at Proposal/Price Quote: one event at 6; its history starts mid-way.
    """
    opps = [
        ["006A", "Alpha rollout", "Acme", "Closed Won", "100000", "2025-03-20", "2025-01-06", "true", "true", "005X",
         "100", "Closed"],
        ["006B", "Beta pilot", "Bolt", "Closed Lost", "50000", "2025-02-28", "2025-01-10", "true", "false", "005X",
         "0", "Omitted"],
        ["006C", "Gamma", "Cobalt", "Negotiation/Review", "80000", "2025-06-30", "2025-02-01", "false", "false",
         "005Y", "90", "Commit"],
        ["006D", "Delta", "Dyna", "Proposal/Price Quote", "20000", "2025-07-31", "2025-02-15", "false", "false",
         "005Y", "75", "Best Case"],
    ]

    def h(opp, stage, amount, close, prob, day):
        return [opp, stage, amount, close, prob, f"{day}T09:00:00.000+0000"]

    history = [
        h("006A", "Prospecting", "90000", "2025-04-30", "10", "2025-01-06"),
        h("006A", "Prospecting", "100000", "2025-04-30", "10", "2025-01-08"),
        h("006A", "Qualification", "100000", "2025-04-30", "10", "2025-01-15"),
        h("006A", "Needs Analysis", "100000", "2025-04-30", "20", "2025-01-25"),
        h("006A", "Value Proposition", "100000", "2025-04-30", "50", "2025-02-05"),
        h("006A", "Id. Decision Makers", "100000", "2025-04-30", "60", "2025-02-15"),
        h("006A", "Perception Analysis", "100000", "2025-04-30", "70", "2025-02-25"),
        h("006A", "Proposal/Price Quote", "100000", "2025-04-30", "75", "2025-03-01"),
        h("006A", "Negotiation/Review", "100000", "2025-04-30", "90", "2025-03-10"),
        h("006A", "Closed Won", "100000", "2025-03-20", "100", "2025-03-20"),
        h("006B", "Prospecting", "50000", "2025-05-30", "10", "2025-01-10"),
        h("006B", "Qualification", "50000", "2025-05-30", "10", "2025-01-20"),
        h("006B", "Needs Analysis", "50000", "2025-05-30", "20", "2025-02-01"),
        h("006B", "Qualification", "50000", "2025-05-30", "10", "2025-02-10"),
        h("006B", "Qualification", "50000", "2025-06-15", "10", "2025-02-12"),
        h("006B", "Needs Analysis", "50000", "2025-06-15", "20", "2025-02-20"),
        h("006B", "Closed Lost", "50000", "2025-02-28", "0", "2025-02-28"),
        h("006C", "Prospecting", "80000", "2025-06-30", "10", "2025-02-01"),
        h("006C", "Qualification", "80000", "2025-06-30", "10", "2025-02-05"),
        h("006C", "Qualification", "85000", "2025-06-30", "10", "2025-02-07"),
        h("006C", "Needs Analysis", "85000", "2025-06-30", "20", "2025-02-10"),
        h("006C", "Value Proposition", "85000", "2025-06-30", "50", "2025-02-20"),
        h("006C", "Id. Decision Makers", "85000", "2025-06-30", "60", "2025-03-01"),
        h("006C", "Perception Analysis", "85000", "2025-06-30", "70", "2025-03-10"),
        h("006C", "Negotiation/Review", "80000", "2025-06-30", "90", "2025-03-20"),
        h("006D", "Proposal/Price Quote", "20000", "2025-07-31", "75", "2025-02-15"),
        h("006D", "Proposal/Price Quote", "25000", "2025-07-31", "75", "2025-02-20"),
    ]
    return (write_csv(folder / "Opportunity.csv", SALESFORCE_OPPORTUNITY, opps),
            write_csv(folder / "OpportunityHistory.csv", SALESFORCE_HISTORY, history))


def salesforce_spanish(folder: Path) -> Path:
    """A Spanish org's report export, Windows-1252, semicolons, decimal comma, D/M/Y dates, EUR and USD.

    Every stage is custom: Prospección ×2, Negociación ×2, Cerrada ganada ×1."""
    header = ["Id", "Nombre", "Nombre de la cuenta", "StageName", "Amount", "CloseDate", "CreatedDate", "IsClosed",
              "IsWon", "CurrencyIsoCode"]
    rows = [["E1", "Óptica", "Cía Ñandú", "Prospección", "1.000,50", "20/03/2025", "06/01/2025", "false", "false",
             "EUR"],
            ["E2", "Béta", "Açores SA", "Negociación", "2.000,00", "28/04/2025", "10/01/2025", "false", "false", "USD"],
            ["E3", "Gamma", "Zürich AG", "Negociación", "3.000,00", "28/02/2025", "10/01/2025", "false", "false",
             "EUR"],
            ["E4", "Delta", "Lyon", "Cerrada ganada", "500,00", "15/03/2025", "13/01/2025", "true", "true", "EUR"],
            ["E5", "Épsilon", "Sevilla", "Prospección", "700,00", "30/06/2025", "14/02/2025", "false", "false", "EUR"]]
    return write_csv(folder / "Oportunidades.csv", header, rows, encoding="cp1252", delimiter=";")


HUBSPOT_STAGES = ["Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled", "Decision Maker Bought-In",
                  "Contract Sent", "Closed Won", "Closed Lost"]


def hubspot(folder: Path, *, partner_pipeline: bool = False) -> Path:
    """A deals export with Date entered/exited columns for the default Sales Pipeline (mapped 1 3 5 6 7 won lost).

    101 won: 1 3 5 6 7 8.  102 lost: 1 3.  103 open: 1 3 5.  104 open, created at Decision Maker Bought-In: 6 only,
    history starts mid-way. With partner_pipeline, 105 is in a second pipeline with a custom stage:
    Discovery (Partner Pipeline), then Closed Won (Partner Pipeline).
    """
    sales = [f"{s} (Sales Pipeline)" for s in HUBSPOT_STAGES]
    header = ["Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Create Date", "Close Date", "Deal owner",
              "Associated Company"]
    entered = {s: f'Date entered "{s}"' for s in sales}
    header += [entered[sales[0]], f'Date exited "{sales[0]}"'] + [entered[s] for s in sales[1:]]
    partner = ["Discovery (Partner Pipeline)", "Closed Won (Partner Pipeline)"]
    if partner_pipeline:
        header += [f'Date entered "{s}"' for s in partner]

    def deal(deal_id, stage, pipeline, amount, create, close, owner, company, dates, exited="", partner_dates=()):
        row = [deal_id, f"Deal {deal_id}", stage, pipeline, amount, create, close, owner, company]
        row += [dates.get(sales[0], ""), exited] + [dates.get(s, "") for s in sales[1:]]
        if partner_pipeline:
            row += list(partner_dates) or ["", ""]
        return row

    s = sales
    rows = [
        deal("101", "Closed Won", "Sales Pipeline", "1000", "2025-01-06 10:00", "2025-03-17 16:00", "Ana", "Acme",
             {s[0]: "2025-01-06 10:00", s[1]: "2025-01-20 10:00", s[2]: "2025-02-03 10:00", s[3]: "2025-02-17 10:00",
              s[4]: "2025-03-03 10:00", s[5]: "2025-03-17 16:00"}, exited="2025-01-20 10:00"),
        deal("102", "Closed Lost", "Sales Pipeline", "500", "2025-01-10 09:00", "2025-02-07 12:00", "Ana", "Bolt",
             {s[0]: "2025-01-10 09:00", s[1]: "2025-01-24 09:00", s[6]: "2025-02-07 12:00"}),
        deal("103", "Presentation Scheduled", "Sales Pipeline", "800", "2025-02-01 09:00", "2025-06-30 00:00", "Ben",
             "Cobalt", {s[0]: "2025-02-01 09:00", s[1]: "2025-02-15 09:00", s[2]: "2025-03-01 09:00"}),
        deal("104", "Decision Maker Bought-In", "Sales Pipeline", "300", "2025-02-10 09:00", "2025-05-31 00:00", "Ben",
             "Dyna", {s[3]: "2025-02-10 09:00"}),
    ]
    if partner_pipeline:
        rows.append(deal("105", "Closed Won", "Partner Pipeline", "200", "2025-02-05 09:00", "2025-03-01 09:00",
                         "Ana", "Echo", {}, partner_dates=("2025-02-05 09:00", "2025-03-01 09:00")))
    return write_csv(folder / "hubspot-crm-exports-all-deals.csv", header, rows)


def dynamics365(folder: Path) -> Path:
    """An opportunities export (US locale: M/D/YYYY h:mm AM/PM), current stage only.

    D1 won at Close: events 7 and 8 at the actual close; amount is the actual revenue 1200.
    D2 lost at Propose (Out-Sold): event 5 dated by the close, as it was modified after.  D3 open at Qualify: 1.
    D4 open at Develop: 3, its history starts mid-way.
    """
    header = ["(Do Not Modify) Opportunity", "(Do Not Modify) Row Checksum", "(Do Not Modify) Modified On", "Topic",
              "Potential Customer", "Status", "Status Reason", "Sales Stage", "Est. Revenue", "Actual Revenue",
              "Est. Close Date", "Actual Close Date", "Created On", "Rating", "Probability", "Owner", "Currency"]
    rows = [
        ["a1f0c7e2-0001", "x1", "3/20/2025 4:15 PM", "Fleet renewal", "Acme", "Won", "Won", "Close", "1,000.00",
         "1,200.00", "3/31/2025", "3/20/2025", "1/6/2025 9:00 AM", "Hot", "100", "Ana", "US Dollar"],
        ["a1f0c7e2-0002", "x2", "2/28/2025 5:00 PM", "Pilot", "Bolt", "Lost", "Out-Sold", "Propose", "500.00", "",
         "3/15/2025", "2/28/2025", "1/10/2025 9:00 AM", "Warm", "0", "Ana", "US Dollar"],
        ["a1f0c7e2-0003", "x3", "2/14/2025 11:00 AM", "Expansion", "Cobalt", "Open", "In Progress", "Qualify",
         "800.00", "", "6/30/2025", "", "2/1/2025 9:00 AM", "Cold", "20", "Ben", "US Dollar"],
        ["a1f0c7e2-0004", "x4", "3/1/2025 10:00 AM", "Upgrade", "Dyna", "Open", "In Progress", "Develop", "300.00",
         "", "5/31/2025", "", "2/15/2025 9:00 AM", "Warm", "40", "Ben", "US Dollar"],
    ]
    return write_csv(folder / "Opportunities.csv", header, rows)


SNAPSHOT_HEADER = ["deal_id", "account", "amount", "created_at", "stage"]
SNAPSHOTS = {
    "2025-01-31": [["S1", "Acme", "100", "2024-11-01", "2"], ["S2", "Bolt", "200", "2025-01-05", "1"],
                   ["S4", "Dyna", "400", "2025-01-20", "1"]],
    "2025-02-28": [["S1", "Acme", "100", "2024-11-01", "4"], ["S2", "Bolt", "200", "2025-01-05", "1"],
                   ["S3", "Cobalt", "300", "2025-02-10", "5"], ["S4", "Dyna", "400", "2025-01-20", "2"]],
    "2025-03-31": [["S1", "Acme", "150", "2024-11-01", "3"], ["S2", "Bolt", "200", "2025-01-05", "won"],
                   ["S3", "Cobalt", "300", "2025-02-10", "lost"], ["S4", "Dyna", "400", "2025-01-20", "2"]],
}
"""S1: 2 4 3 (backward; first seen at 2, so its history starts mid-way), latest amount 150.  S2: 1 8, won 2025-03-31.
S3: 5 (mid-way), lost 2025-03-31.  S4: 1 2, open.  8 stage events."""


def snapshot_files(folder: Path) -> list[Path]:
    return [write_csv(folder / f"pipeline_{day}.csv", SNAPSHOT_HEADER, rows) for day, rows in SNAPSHOTS.items()]


def snapshot_single_file(folder: Path) -> Path:
    rows = [[*row, day] for day, day_rows in SNAPSHOTS.items() for row in day_rows]
    return write_csv(folder / "snapshots.csv", [*SNAPSHOT_HEADER, "snapshot_date"], rows)
