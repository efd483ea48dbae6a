import stripe


class BillingService:
    def __init__(self, api_key: str) -> None:
        stripe.api_key = api_key

    def charge_card(self, customer_id: str, amount_cents: int) -> None:
        stripe.PaymentIntent.create(
            customer=customer_id, amount=amount_cents, currency="usd", confirm=True
        )

    def log_payment_view(self, customer_id: str) -> None:
        print("checkout viewed by", customer_id)


billing = BillingService(api_key="sk_test_example")
