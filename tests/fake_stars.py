"""Telegram Stars in the fake Bot API (tests/fake_telegram.py): invoices, the checkout, payments,
renewals, refunds and cancelled subscriptions, with the Bot API's rules.

Invoices (createInvoiceLink, sendInvoice) follow Telegram's rules for Stars, and a 400 answers
any breach: currency XTR, no provider token, exactly one price of 1-10,000 Stars, title 1-32
characters, description 1-255, payload 1-128 bytes, subscription_period 2592000 if given. A
user who opens an invoice link makes a pre_checkout_query; the bot must answer it within
CHECKOUT_WITHIN seconds (later answers get Telegram's 400 "query is too old"); an ok answer
makes the successful_payment message, as Telegram does. Renewals come without a checkout.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CHECKOUT_WITHIN = 10.0  # seconds Telegram waits for answerPreCheckoutQuery
PERIOD = 2592000  # the only subscription period Telegram takes: 30 days
METHODS = {
    "createInvoiceLink",
    "sendInvoice",
    "answerPreCheckoutQuery",
    "refundStarPayment",
    "editUserStarSubscription",
}


@dataclass
class Charge:
    """One payment Telegram took."""

    charge_id: str
    user_id: int
    invoice: dict[str, Any]
    expires: int  # unix seconds
    refunded: bool = False


@dataclass
class StarsDesk:
    """Telegram's side of Stars payments; `push(update)` delivers an update to the bot, and
    `message(user_id, **content)` makes a message from a user."""

    push: Callable[[dict[str, Any]], int]
    message: Callable[..., dict[str, Any]]
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)  # link → invoice
    checkouts: dict[str, tuple[float, int, dict[str, Any], int]] = field(default_factory=dict)
    answers: list[tuple[str, bool, str, float]] = field(default_factory=list)  # id, ok, why, s
    charges: dict[str, Charge] = field(default_factory=dict)
    canceled: set[str] = field(default_factory=set)  # charge ids whose renewal was cancelled
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # charge → its message
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- what a user does ---------------------------------------------------------------------
    def open_invoice(self, user_id: int, link: str, *, at: datetime | None = None) -> str:
        """The user taps the link and pays: a pre_checkout_query (its id is returned); the
        payment follows an ok answer, dated `at` (default now)."""
        invoice = self.invoices[link]
        query_id = f"pcq{next(self._ids)}"
        paid_at = int((at or datetime.now().astimezone()).timestamp())
        self.checkouts[query_id] = (time.monotonic(), user_id, invoice, paid_at)
        self.push(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"},
                    "currency": invoice["currency"],
                    "total_amount": invoice["prices"][0]["amount"],
                    "invoice_payload": invoice["payload"],
                }
            }
        )
        return query_id

    def renew(self, charge_id: str, *, late_by: int = 0) -> str:
        """Telegram charges the next period of the subscription `charge_id` belongs to, at its
        expiry (+ `late_by` seconds); returns the new charge id."""
        previous = self.charges[charge_id]
        if previous.charge_id in self.canceled:
            raise AssertionError("a cancelled subscription does not renew")
        return self._pay(
            previous.user_id,
            previous.invoice,
            at=previous.expires + late_by,
            expires=previous.expires + PERIOD,
            first=False,
        )

    def deliver_again(self, charge_id: str) -> int:
        """The same successful_payment delivered once more (a new update, the same charge)."""
        message = self.message(self.charges[charge_id].user_id, **self.payments[charge_id])
        return self.push({"message": message})

    # -- what the bot calls --------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method in ("createInvoiceLink", "sendInvoice"):
            why = invoice_problem(params)
            if why:
                return _bad(why)
            invoice = {**params, "prices": _json(params["prices"])}
            link = f"https://t.me/$inv{next(self._ids)}"
            self.invoices[link] = invoice
            if method == "createInvoiceLink":
                return 200, {"ok": True, "result": link}
            shown = {
                "title": params["title"],
                "description": params["description"],
                "start_parameter": "",
                "currency": "XTR",
                "total_amount": invoice["prices"][0]["amount"],
            }
            message = self.message(int(params["chat_id"]), from_bot=True, invoice=shown)
            return 200, {"ok": True, "result": message}
        if method == "answerPreCheckoutQuery":
            return self._answer(params)
        charge = self.charges.get(str(params.get("telegram_payment_charge_id")))
        if charge is None or charge.user_id != int(params["user_id"]):
            return _bad("CHARGE_NOT_FOUND")
        if method == "refundStarPayment":
            if charge.refunded:
                return _bad("CHARGE_ALREADY_REFUNDED")
            charge.refunded = True
            return 200, {"ok": True, "result": True}
        if _json(params.get("is_canceled")) is True:  # editUserStarSubscription
            self.canceled |= {c.charge_id for c in self._chain(charge)}
        else:
            self.canceled -= {c.charge_id for c in self._chain(charge)}
        return 200, {"ok": True, "result": True}

    def _answer(self, params: dict[str, Any]) -> tuple[int, Any]:
        query_id = str(params["pre_checkout_query_id"])
        if query_id not in self.checkouts:
            return _bad("QUERY_ID_INVALID")
        asked, user_id, invoice, paid_at = self.checkouts.pop(query_id)
        took = time.monotonic() - asked
        ok = _json(params.get("ok")) is True
        self.answers.append((query_id, ok, str(params.get("error_message") or ""), took))
        if took > CHECKOUT_WITHIN:
            return _bad("query is too old and response timeout expired or query ID is invalid")
        if not ok and not params.get("error_message"):
            return _bad("error_message is required when ok is False")
        if ok:
            first = "subscription_period" in invoice
            self._pay(user_id, invoice, at=paid_at, expires=paid_at + PERIOD, first=first)
        return 200, {"ok": True, "result": True}

    def _pay(
        self, user_id: int, invoice: dict[str, Any], *, at: int, expires: int, first: bool
    ) -> str:
        charge_id = f"stxCharge{next(self._ids)}_{user_id}"
        self.charges[charge_id] = Charge(charge_id, user_id, invoice, expires)
        paid = {
            "currency": invoice["currency"],
            "total_amount": invoice["prices"][0]["amount"],
            "invoice_payload": invoice["payload"],
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        if "subscription_period" in invoice:
            paid |= {"subscription_expiration_date": expires, "is_recurring": True}
            paid |= {"is_first_recurring": True} if first else {}
        self.payments[charge_id] = {"date": at, "successful_payment": paid}
        self.push({"message": self.message(user_id, **self.payments[charge_id])})
        return charge_id

    def _chain(self, charge: Charge) -> list[Charge]:
        """The charges of one subscription: same user, same invoice payload."""
        payload = charge.invoice["payload"]
        return [
            c
            for c in self.charges.values()
            if c.user_id == charge.user_id and c.invoice["payload"] == payload
        ]


def invoice_problem(params: dict[str, Any]) -> str:
    """Why Telegram would refuse this Stars invoice ('' if it would not)."""
    prices = _json(params.get("prices") or "[]")
    title, description = str(params.get("title", "")), str(params.get("description", ""))
    payload = str(params.get("payload", ""))
    period = params.get("subscription_period")
    if params.get("currency") != "XTR":
        return "Bad Request: currency must be XTR for payments in Telegram Stars"
    if params.get("provider_token"):
        return "Bad Request: provider_token must be empty for payments in Telegram Stars"
    if not isinstance(prices, list) or len(prices) != 1:
        return "Bad Request: exactly one price is allowed for payments in Telegram Stars"
    if not 1 <= int(prices[0].get("amount", 0)) <= 10000:
        return "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID"
    if not 1 <= len(title) <= 32:
        return "Bad Request: INVOICE_TITLE_INVALID"  # 1-32 characters
    if not 1 <= len(description) <= 255:
        return "Bad Request: INVOICE_DESCRIPTION_INVALID"
    if not 1 <= len(payload.encode()) <= 128:
        return "Bad Request: INVOICE_PAYLOAD_INVALID"  # 1-128 bytes
    if period is not None and int(period) != PERIOD:
        return "Bad Request: SUBSCRIPTION_PERIOD_INVALID"
    return ""


def _json(value: Any) -> Any:
    """Form-encoded requests carry lists and booleans as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _bad(description: str) -> tuple[int, dict[str, Any]]:
    text = description if description.startswith("Bad Request") else f"Bad Request: {description}"
    return 400, {"ok": False, "error_code": 400, "description": text}
