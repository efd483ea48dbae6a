from fastapi import FastAPI

from app.routes import checkout, media, mistakes, users, webhooks

app = FastAPI(title="shop")
for module in (checkout, media, mistakes, users, webhooks):
    app.include_router(module.router)
