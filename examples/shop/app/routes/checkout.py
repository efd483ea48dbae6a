from fastapi import APIRouter, BackgroundTasks

from app.services.billing import billing

router = APIRouter()


@router.post("/checkout")
def checkout(customer_id: str, background_tasks: BackgroundTasks) -> dict:
    # FBG104: a charge must not be lost.
    background_tasks.add_task(billing.charge_card, customer_id, 4200)
    # Fine: a page-view log line.
    background_tasks.add_task(billing.log_payment_view, customer_id)
    return {"ok": True}
