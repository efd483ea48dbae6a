from fastapi import FastAPI

from app.routes import checkout, media, users, webhooks

app = FastAPI(title="shop")
for module in (checkout, media, users, webhooks):
    app.include_router(module.router)
