"""GraphQL for payouts: payout settings, the balance against the threshold, requesting a payout,
the operators' decisions and the payment files."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import PayoutMethod, PayoutStatus
from partner_portal.permissions.requirements import PARTNER_PORTAL, PAYOUT_LIST_READER, PAYOUT_MANAGER, PAYOUT_READER
from partner_portal.resolvers import payouts
from partner_portal.schema.commissions import Commission
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    Payload,
    connection,
    decode_id,
    describe_enum,
    node_type,
    run_mutation,
)
from partner_portal.schema.money import Money
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, row_type

describe_enum(
    PayoutMethod,
    "How a partner is paid.",
    {"PAYPAL": "To a PayPal account, by email address.", "BANK_TRANSFER": "By bank transfer to an IBAN."},
)
describe_enum(
    PayoutStatus,
    "Where a payout stands.",
    {
        "REQUESTED": "Requested by the partner or the monthly payout run; its commissions are claimed.",
        "APPROVED": "Approved by the vendor; waiting to be paid.",
        "PAID": "Paid; its commissions are PAID.",
        "REJECTED": "Rejected with a note; its commissions are payable again.",
    },
)
describe_enum(
    payouts.ExportFormat,
    "The payment file to produce.",
    {
        "PAYPAL_CSV": "PayPal's mass-payout CSV (no header; email, amount, currency, unique id, note), one currency "
        "per file, for approved PAYPAL payouts.",
        "SEPA_XML": "A SEPA credit transfer initiation (pain.001.001.03) for approved BANK_TRANSFER payouts in EUR.",
    },
)

PayoutFilterPartner = Annotated[
    GlobalID | None,
    strawberry.argument(
        description="The partner organization. Partner staff: default the viewer's first "
        "organization. Operators with MANAGE_PAYOUTS: only this partner (default all)."
    ),
]


@row_type((*payouts.SETTINGS_FIELDS, "payout_currency"), iban=lambda row: payouts.mask_iban(row["iban"]))
@strawberry.type(description="How a partner is paid. The IBAN is shown masked except for its last four characters.")
class PayoutSettings(RowType):
    method: PayoutMethod = strawberry.field(description="PayPal or bank transfer.")
    paypal_email: str | None = strawberry.field(description="The PayPal account's email address, for PAYPAL.")
    account_holder: str | None = strawberry.field(description="The account holder, for BANK_TRANSFER.")
    iban: str | None = strawberry.field(description="The IBAN, masked but for the last four characters.")
    bic: str | None = strawberry.field(description="The BIC, given or known from the IBAN's bank, if any.")
    automatic: bool = strawberry.field(description="The monthly payout run requests payouts for this partner.")
    payout_currency: str = strawberry.field(
        description="The currency commissions and payouts are in (set with updatePartnerProfile)."
    )
    updated_at: datetime = strawberry.field(description="When the settings last changed.")


@strawberry.type(description="Where a payout's money goes, as it stood when the payout was requested.")
class PayoutDestination:
    paypal_email: str | None = strawberry.field(description="The PayPal account, for PAYPAL.")
    account_holder: str | None = strawberry.field(description="The account holder, for BANK_TRANSFER.")
    iban: str | None = strawberry.field(description="The IBAN, masked but for the last four characters.")
    bic: str | None = strawberry.field(description="The BIC, if known.")

    @classmethod
    def of(cls, target: dict[str, Any] | None) -> PayoutDestination:
        target = target or {}
        return cls(
            paypal_email=target.get("paypal_email"),
            account_holder=target.get("account_holder"),
            iban=payouts.mask_iban(target.get("iban")),
            bic=target.get("bic"),
        )


@row_type(
    payouts.PAYOUT_FIELDS,
    partner_name="partner__name",
    amount=lambda row: Money.of(row["amount"], row["currency"]),
    destination=lambda row: PayoutDestination.of(row["destination"]),
    requested_automatically=lambda row: row["requested_by_id"] is None,
)
@strawberry.type(description="A claim of a partner's approved balance, paid by PayPal or bank transfer.")
class Payout(Node, RowType):
    id: NodeID[int]
    partner_name: str = strawberry.field(description="The partner organization's name.")
    status: PayoutStatus = strawberry.field(description="Where the payout stands.")
    amount: Money = strawberry.field(description="The sum of the commission lines it holds (refunds netted).")
    method: PayoutMethod = strawberry.field(description="How it is paid.")
    destination: PayoutDestination = strawberry.field(description="Where the money goes.")
    requested_automatically: bool = strawberry.field(description="Requested by the monthly payout run.")
    requested_at: datetime = strawberry.field(description="When it was requested.")
    decided_at: datetime | None = strawberry.field(description="When it was approved or rejected.")
    paid_at: datetime | None = strawberry.field(description="When it was marked paid.")
    reference: str | None = strawberry.field(description="The transfer's reference, once paid.")
    note: str | None = strawberry.field(description="Why it was rejected.")
    _partner_id: strawberry.Private[int]

    @strawberry.field(description="The global id of the partner organization.")
    def partner_id(self) -> GlobalID:
        return GlobalID("Organization", str(self._partner_id))

    @strawberry.field(description="The commission lines it holds (none after a rejection released them).")
    async def lines(self, info: Info, first: First = None, after: After = None) -> Connection[Commission]:
        return connection(
            await payouts.list_lines(info.context.actor, self.id, first=first, after=after), Commission.from_row
        )


@node_type("Payout")
async def _fetch_payout(context: Any, pk: int) -> Payout | None:
    row = await payouts.get_payout(context.actor, pk)
    return Payout.from_row(row) if row else None


@strawberry.type(description="A partner's payable balance against the payout threshold, in its payout currency.")
class PayoutBalance:
    approved: Money = strawberry.field(description="Approved commission no payout holds yet (refunds netted).")
    threshold: Money | None = strawberry.field(
        description="The smallest payout in the payout currency; null while no exchange rate covers it."
    )
    missing: Money | None = strawberry.field(description="How much is missing to the threshold (0 when reached).")
    can_request: bool = strawberry.field(description="The balance reaches the threshold: a payout can be requested.")

    @classmethod
    def of(cls, balance: payouts.Balance) -> PayoutBalance:
        currency = balance.currency
        threshold, missing = balance.threshold, balance.missing
        return cls(
            approved=Money.of(balance.approved, currency),
            threshold=Money.of(threshold, currency) if threshold is not None else None,
            missing=Money.of(missing, currency) if missing is not None else None,
            can_request=threshold is not None and balance.approved > 0 and missing == 0,
        )


@strawberry.type(description="A payment file to upload to PayPal or the bank.")
class PayoutFile:
    filename: str = strawberry.field(description="A suggested file name.")
    content_type: str = strawberry.field(description="The media type: text/csv or application/xml.")
    content: str = strawberry.field(description="The file's content (UTF-8 text).")
    payouts: list[Payout] = strawberry.field(description="The payouts in the file, in file order.")


# --- inputs and payloads -----------------------------------------------------------------------------------


@strawberry.input(
    description="How the partner is paid. The other method's details are "
    "cleared. The payout currency is set with updatePartnerProfile."
)
class SetPayoutSettingsInput:
    partner_id: GlobalID | None = strawberry.field(
        default=None, description="The partner organization; default: the viewer's first organization."
    )
    method: PayoutMethod = strawberry.field(description="PayPal or bank transfer.")
    paypal_email: str | None = strawberry.field(default=None, description="For PAYPAL: the PayPal account's email.")
    account_holder: str | None = strawberry.field(default=None, description="For BANK_TRANSFER: the account holder.")
    iban: str | None = strawberry.field(default=None, description="For BANK_TRANSFER: the IBAN (spaces allowed).")
    bic: str | None = strawberry.field(
        default=None, description="For BANK_TRANSFER: the BIC; optional when the IBAN's bank is known."
    )
    automatic: bool = strawberry.field(default=False, description="Let the monthly payout run request payouts.")


@strawberry.type(description="The payout settings after the change. Errors: INVALID_EMAIL, INVALID_VALUE, ...")
class SetPayoutSettingsPayload(Payload):
    payout_settings: PayoutSettings | None = strawberry.field(default=None, description="The settings.")


@strawberry.input(description="Claim the whole approved balance; send an Idempotency-Key.")
class RequestPayoutInput:
    partner_id: GlobalID | None = strawberry.field(
        default=None, description="The partner organization; default: the viewer's first organization."
    )


@strawberry.type(
    description="The payout after the change. Errors: BELOW_THRESHOLD, NO_PAYOUT_SETTINGS, PAYOUT_DECIDED, ..."
)
class PayoutPayload(Payload):
    payout: Payout | None = strawberry.field(default=None, description="The payout.")


@strawberry.input(description="Approve a requested payout.")
class ApprovePayoutInput:
    payout_id: GlobalID = strawberry.field(description="The payout.")


@strawberry.input(description="Record that an approved payout was paid.")
class MarkPayoutPaidInput:
    payout_id: GlobalID = strawberry.field(description="The payout.")
    reference: str = strawberry.field(
        description="The transfer's reference: PayPal batch or transaction id, bank reference."
    )


@strawberry.input(description="Reject a requested or approved payout; its commissions become payable again.")
class RejectPayoutInput:
    payout_id: GlobalID = strawberry.field(description="The payout.")
    note: str = strawberry.field(description="Why, for the partner.")


@strawberry.input(description="The vendor's account SEPA transfers are paid from.")
class SepaDebtorInput:
    name: str = strawberry.field(description="The account holder (the vendor).")
    iban: str = strawberry.field(description="The IBAN.")
    bic: str | None = strawberry.field(default=None, description="The BIC; optional when the IBAN's bank is known.")


@strawberry.input(
    description="Produce a payment file of approved payouts. Read-only: "
    "mark the payouts paid once the transfers are done."
)
class ExportPayoutsInput:
    format: payouts.ExportFormat = strawberry.field(description="Which file.")
    payout_ids: list[GlobalID] | None = strawberry.field(
        default=None,
        description="These payouts (each approved and of the file's method); default: every approved "
        "payout of the file's method (and, for SEPA, in EUR).",
    )
    currency: str | None = strawberry.field(
        default=None, description="PAYPAL_CSV: only payouts in this currency (PayPal takes one currency per file)."
    )
    debtor: SepaDebtorInput | None = strawberry.field(default=None, description="SEPA_XML: the paying account.")
    execution_date: date | None = strawberry.field(
        default=None, description="SEPA_XML: the requested execution date (today or later; default today)."
    )


@strawberry.type(description="The payment file. Errors: NOTHING_TO_EXPORT, INVALID_VALUE, ...")
class ExportPayoutsPayload(Payload):
    file: PayoutFile | None = strawberry.field(default=None, description="The file.")


async def _export(actor: Any, input: ExportPayoutsInput) -> payouts.ExportFile:
    debtor = input.debtor
    return await payouts.export_payouts(
        actor,
        file_format=input.format,
        payout_ids=[decode_id(gid, "Payout") for gid in input.payout_ids] if input.payout_ids is not None else None,
        currency=input.currency,
        debtor=(debtor.name, debtor.iban, debtor.bic) if debtor is not None else None,
        execution_date=input.execution_date,
    )


@strawberry.type
class PayoutsQuery:
    @strawberry.field(description="Payouts, newest first.", extensions=[Requires(PAYOUT_LIST_READER, "partner_id")])
    async def payouts(
        self,
        info: Info,
        partner_id: PayoutFilterPartner = None,
        status: Annotated[PayoutStatus | None, strawberry.argument(description="Only this status.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Payout]:
        page = await payouts.list_payouts(
            info.context.actor, partner_id=partner_id_of(partner_id), status=status, first=first, after=after
        )
        return connection(page, Payout.from_row)

    @strawberry.field(
        description="How the partner is paid; null until set.", extensions=[Requires(PAYOUT_READER, "partner_id")]
    )
    async def payout_settings(self, info: Info, partner_id: PartnerId = None) -> PayoutSettings | None:
        row = await payouts.get_settings(info.context.actor, partner_id_of(partner_id))
        return PayoutSettings.from_row(row) if row else None

    @strawberry.field(
        description="The approved balance against the payout threshold.",
        extensions=[Requires(PAYOUT_READER, "partner_id")],
    )
    async def payout_balance(self, info: Info, partner_id: PartnerId = None) -> PayoutBalance:
        ctx = info.context
        return PayoutBalance.of(await payouts.balance(ctx.actor, ctx.settings, partner_id_of(partner_id)))


@strawberry.type
class PayoutsMutation:
    @strawberry.mutation(
        description="Set how the partner is paid: PayPal or bank transfer.",
        extensions=[Requires(PARTNER_PORTAL, "input.partner_id")],
    )
    async def set_payout_settings(self, info: Info, input: SetPayoutSettingsInput) -> SetPayoutSettingsPayload:
        change = payouts.set_settings(
            info.context.actor,
            partner_id_of(input.partner_id),
            method=input.method,
            paypal_email=input.paypal_email,
            account_holder=input.account_holder,
            iban=input.iban,
            bic=input.bic,
            automatic=input.automatic,
        )
        return await run_mutation(SetPayoutSettingsPayload, change, payout_settings=PayoutSettings.from_row)

    @strawberry.mutation(
        description="Request a payout of the whole approved balance once it reaches the threshold; "
        "idempotent with an Idempotency-Key header.",
        extensions=[Requires(PARTNER_PORTAL, "input.partner_id")],
    )
    async def request_payout(self, info: Info, input: RequestPayoutInput) -> PayoutPayload:
        ctx = info.context
        change = payouts.request_payout(ctx.actor, ctx.settings, partner_id_of(input.partner_id))
        return await run_mutation(PayoutPayload, change, payout=Payout.from_row)

    @strawberry.mutation(description="Approve a requested payout.", extensions=[Requires(PAYOUT_MANAGER)])
    async def approve_payout(self, info: Info, input: ApprovePayoutInput) -> PayoutPayload:
        change = payouts.approve_payout(info.context.actor, decode_id(input.payout_id, "Payout"))
        return await run_mutation(PayoutPayload, change, payout=Payout.from_row)

    @strawberry.mutation(
        description="Mark an approved payout paid with the transfer's reference; its commissions become PAID.",
        extensions=[Requires(PAYOUT_MANAGER)],
    )
    async def mark_payout_paid(self, info: Info, input: MarkPayoutPaidInput) -> PayoutPayload:
        change = payouts.mark_paid(info.context.actor, decode_id(input.payout_id, "Payout"), input.reference)
        return await run_mutation(PayoutPayload, change, payout=Payout.from_row)

    @strawberry.mutation(
        description="Reject a payout with a note; its commissions become payable again.",
        extensions=[Requires(PAYOUT_MANAGER)],
    )
    async def reject_payout(self, info: Info, input: RejectPayoutInput) -> PayoutPayload:
        change = payouts.reject_payout(info.context.actor, decode_id(input.payout_id, "Payout"), input.note)
        return await run_mutation(PayoutPayload, change, payout=Payout.from_row)

    @strawberry.mutation(
        description="Produce a PayPal mass-payout CSV or a SEPA credit transfer file of approved payouts.",
        extensions=[Requires(PAYOUT_MANAGER)],
    )
    async def export_payouts(self, info: Info, input: ExportPayoutsInput) -> ExportPayoutsPayload:
        def build(file: payouts.ExportFile) -> dict[str, Any]:
            return {
                "file": PayoutFile(
                    filename=file.filename,
                    content_type=file.content_type,
                    content=file.content,
                    payouts=[Payout.from_row(row) for row in file.payouts],
                )
            }

        return await run_mutation(ExportPayoutsPayload, _export(info.context.actor, input), build)
