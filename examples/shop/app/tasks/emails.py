import smtplib
from email.message import EmailMessage


def send_welcome(email: str) -> None:
    """A short, best-effort notification: exactly what BackgroundTasks is for."""
    message = EmailMessage()
    message["To"] = email
    message["Subject"] = "Welcome!"
    with smtplib.SMTP("localhost", timeout=10) as smtp:
        smtp.send_message(message)


async def send_reminder(email: str, delay_seconds: int) -> None:
    """Sleeps for a day before doing its work: a scheduler's job."""
    import asyncio

    await asyncio.sleep(delay_seconds)
    print("reminder sent to", email)
