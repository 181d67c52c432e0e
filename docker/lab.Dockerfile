# The workbench lab image: JupyterLab + Workbench extension, MLflow on sqlite, Label Studio
# on demand, Open MPI for local multi-rank jobs. Build from the repository root:
#   docker build -f docker/lab.Dockerfile -t workbench-lab .
#   docker run -p 8888:8888 -v wbhome:/home/wb/.workbench workbench-lab
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends make nodejs npm git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 wb
USER wb
WORKDIR /home/wb/workbench

# Dependencies first so that source edits reuse the cached venv layer.
COPY --chown=wb requirements/ requirements/
COPY --chown=wb scripts/bootstrap.py scripts/bootstrap.py
COPY --chown=wb pyproject.toml README.md ./
COPY --chown=wb workbench/ workbench/
COPY --chown=wb extensions/ extensions/
RUN python3 scripts/bootstrap.py

EXPOSE 8888
CMD [".venv/bin/workbench", "lab", "--no-browser", "--port=8888", "--ServerApp.ip=0.0.0.0"]
