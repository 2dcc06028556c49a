from setuptools import find_packages, setup

setup(
    name="recsys",
    version="0.1.0",
    description="Batch music recommender on Apache Spark (Taste Profile + MSD + musiXmatch)",
    python_requires=">=3.11",
    packages=find_packages(include=["recsys", "recsys.*", "sampledata", "sampledata.*"]),
    # What the cluster needs beside the Spark that EMR provides.
    install_requires=[
        "numpy>=1.26",
        "pandas>=2.2,<3",
        "pyarrow>=14",
        "scipy>=1.11",
        "PyYAML>=6",
        "boto3>=1.34",
    ],
    extras_require={
        "local": ["pyspark==3.5.6"],
        # the viewer reads recsys.schemas, whose table schemas are pyspark types
        "viewer": ["streamlit>=1.42", "Authlib>=1.3.2", "pyspark==3.5.6"],
    },
    entry_points={"console_scripts": ["recsys=recsys.cli:main"]},
)
