"""PostgreSQL: migrations, pool, COPY writer, partitions, retention, holds, registry, audit.

The only package that imports asyncpg. Everything above it goes through its functions.
"""
