"""The benchmark's reference: bare FastAPI, one route returning a small dict."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    """A fixed small JSON body."""
    return {"message": "hello"}
