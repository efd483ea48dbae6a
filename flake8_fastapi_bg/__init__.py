"""flake8-fastapi-bg: find the wrong work in FastAPI BackgroundTasks, and tasks that break or
never run."""

__version__ = "0.1.0"

# Where each rule's documentation page is (`rules.base.Rule.url`); here, so that the outputs
# know it without loading the rules.
DOCS_URL = "https://github.com/flake8-fastapi-bg/flake8-fastapi-bg/blob/main/docs/rules/{code}.md"
