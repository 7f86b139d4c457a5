import warnings

# Starlette's TestClient warns at import that it prefers httpx2; httpx is what this project uses.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
