"""The one compiled part of ruaj: the Avro record reader in C (ingest/_cavro.c).

`optional=True`: on a machine without a C compiler or the Python headers the build is skipped
with a warning, and `ingest.avro_reader` reads with its generated Python code instead (the same
values and the same errors, about half the speed). Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ingest._cavro",
            sources=["ingest/_cavro.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
        )
    ]
)
