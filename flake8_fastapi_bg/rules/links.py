"""The references the FBG2xx rule pages link to."""

STARLETTE_BG = ("Starlette: Background Tasks", "https://www.starlette.io/background/")
FASTAPI_BG = ("FastAPI: Background Tasks", "https://fastapi.tiangolo.com/tutorial/background-tasks/")
FASTAPI_YIELD = ("FastAPI: Dependencies with yield",
                 "https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/")
FASTAPI_RESPONSE = ("FastAPI: Response - Change Status Code / Headers",
                    "https://fastapi.tiangolo.com/advanced/response-change-status-code/")
