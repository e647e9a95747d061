"""The ``ml_models`` registry and its artefact files, behind
:class:`~algotrader.ports.stores.ModelStore`.

A model is a row (what it is, what it learnt from, how well) plus a file under
``<root>/models/`` whose SHA-256 the row records. Registering inserts the row with the next
version of the name and writes the file in the same transaction: a failure leaves neither.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from algotrader.db.engine import Database
from algotrader.db.models import Base, MlModel
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ports.stores import ModelInfo, ModelSpec

MODELS_DIR = "models"
_TABLE = Base.metadata.tables[MlModel.__tablename__]
_VERSIONED = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)_v(?P<version>[0-9]+)$")
_TUPLES = ("symbols", "features", "periods")
_ATTEMPTS = 5


class SqlModelStore:
    """Registered models in the database, artefacts under ``root`` (the data directory).
    Cheap to create; holds no connection."""

    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = Path(root)

    def find(self, ref: str) -> ModelInfo:
        text = str(ref).strip().lower()
        query = select(_TABLE)
        versioned = _VERSIONED.match(text)
        if text.isdigit():
            query = query.where(_TABLE.c.id == int(text))
        elif versioned:
            query = query.where(
                _TABLE.c.name == versioned["name"], _TABLE.c.version == int(versioned["version"])
            )
        else:
            query = query.where(_TABLE.c.name == text).order_by(_TABLE.c.version.desc())
        with self.db.engine.connect() as conn:
            row = conn.execute(query.limit(1)).mappings().first()
            if row is None:
                raise _unknown(conn, str(ref).strip())
        return _info(row)

    def register(self, model: ModelSpec, artefact: bytes) -> ModelInfo:
        digest = hashlib.sha256(artefact).hexdigest()
        for _ in range(_ATTEMPTS):
            try:
                return self._insert(model, artefact, digest)
            except IntegrityError:
                continue  # another process took this version meanwhile: take the next one
        raise RuntimeError(f"could not allocate a version for model {model.name!r}")

    def _insert(self, model: ModelSpec, artefact: bytes, digest: str) -> ModelInfo:
        written: Path | None = None
        try:
            with self.db.engine.begin() as conn:
                last = conn.execute(
                    select(func.max(_TABLE.c.version)).where(_TABLE.c.name == model.name)
                ).scalar_one_or_none()
                version = int(last or 0) + 1
                relative = f"{MODELS_DIR}/{model.name}_v{version}_{digest[:12]}.pkl"
                values = {f.name: getattr(model, f.name) for f in fields(ModelSpec)}
                values.update({k: list(values[k]) for k in _TUPLES})
                conn.execute(
                    _TABLE.insert().values(
                        **values, version=version, artefact_path=relative, artefact_sha256=digest
                    )
                )
                written = self.root / relative
                _write_atomic(written, artefact)
                row = (
                    conn.execute(
                        select(_TABLE).where(
                            _TABLE.c.name == model.name, _TABLE.c.version == version
                        )
                    )
                    .mappings()
                    .one()
                )
            return _info(row)
        except BaseException:
            if written is not None:  # the row was not committed: neither is the file
                written.unlink(missing_ok=True)
            raise

    def artefact(self, model: ModelInfo) -> bytes:
        path = self.root / model.artefact_path
        if not path.is_file():
            raise DataNotFoundError(
                f"the artefact of model {model.source} is missing ({path})",
                "point --data-dir at the directory it was trained with, or train it again",
            )
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != model.artefact_sha256:
            raise InvalidInputError(
                f"the artefact of model {model.source} ({path}) does not match its SHA-256 "
                "in the registry",
                "it changed after training: train the model again",
            )
        return payload

    def list(self) -> list[ModelInfo]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_TABLE).order_by(_TABLE.c.id.desc())).mappings().all()
        return [_info(row) for row in rows]


def _info(row: RowMapping) -> ModelInfo:
    values: dict[str, Any] = {f.name: row[f.name] for f in fields(ModelInfo)}
    values.update({k: tuple(values[k]) for k in _TUPLES})
    values.update(id=int(values["id"]), version=int(values["version"]))
    return ModelInfo(**values)


def _unknown(conn: Connection, text: str) -> DataNotFoundError:
    known = [f"{n}_v{v}" for n, v in conn.execute(select(_TABLE.c.name, _TABLE.c.version)).all()]
    names = sorted({k.rsplit("_v", 1)[0] for k in known})
    close = difflib.get_close_matches(text.lower(), known + names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return DataNotFoundError(
        f"no model {text!r} in the registry",
        f"{hint}see `algotrader ml list`, or train one with `algotrader ml train`",
    )


def _write_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


__all__ = ["MODELS_DIR", "SqlModelStore"]
