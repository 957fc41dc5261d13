"""The one MetaData every store table belongs to."""

from sqlalchemy import MetaData

metadata = MetaData()
