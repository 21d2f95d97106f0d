# One image for every footfall process: Airflow components, the simulator, the ingestion API.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 AIRFLOW_HOME=/opt/airflow
WORKDIR /opt/footfall
COPY requirements.txt pyproject.toml README.md ./
RUN pip install -r requirements.txt
COPY include ./include
COPY dags ./dags
COPY plugins ./plugins
COPY simulator ./simulator
RUN pip install --no-deps -e . -e simulator
