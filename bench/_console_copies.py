"""Making bench/console_load.py's copied cases open like real ones.

PostgreSQL copies 2,000 sealed cases into 98,000 more in seconds, but every ciphertext is bound
to its case's id (and a message's to its own id), so a copy opened nothing: the queue's
previews, "take next" landing on a copy, a case page of a copy all failed to decrypt. This gives
each copy what a real case has: its own wrapped data key, its own key pair sealed to the program
key, its answers and every message sealed again under them (DEMO texts). The sealing runs in
one worker process per CPU; the rows are written back through COPY and one UPDATE per table.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from types import SimpleNamespace
from typing import Any

BATCH = 2_000


def _seal_batch(
    args: tuple[bytes, int, list[str], list[tuple[int, str, int]]],
) -> tuple[list[tuple[str, bytes, bytes]], list[tuple[str, bytes, bytes]], list[tuple[int, bytes]]]:
    """Worker: (case id, wrapped key, sealed answers), (case id, public, sealed private) and
    (message id, body) for one batch. Pure computation, no database."""
    import console  # bench/console.py: cases are sealed as it seals them

    from safepassage.cases import sealed
    from safepassage.privacy import fields, sealing, staff_fields

    program_public, _program_id, case_ids, messages = args
    cases, keys, bodies = [], [], []
    publics: dict[str, tuple[Any, bytes]] = {}
    for n, case_id in enumerate(case_ids):
        holder = SimpleNamespace(
            id=uuid.UUID(case_id), wrapped_key=fields.new_case_key(uuid.UUID(case_id))
        )
        private, public = sealing.generate_keypair()
        sealed_private = sealing.seal(program_public, private, f"case-key:{case_id}".encode())
        answers = console.sealed_demo_answers(holder, public, f"DEMO-NAME copy {n}")
        cases.append((case_id, bytes(holder.wrapped_key), answers))
        keys.append((case_id, public, sealed_private))
        publics[case_id] = (holder, public)
    for message_id, case_id, rank in messages:
        holder, public = publics[case_id]
        text = f"DEMO message {rank}"
        field = f"{sealed.MESSAGE_FIELD}:{message_id}"
        bodies.append((message_id, staff_fields.seal_with_public_key(holder, field, text, public)))
    return cases, keys, bodies


def reseal_copies() -> int:
    """Seal every case that has no key pair yet (the copies) as a real one; how many were."""
    from django.db import connection

    from safepassage.cases.models import Case, Message
    from safepassage.privacy import keyring
    from safepassage.privacy.models import CaseKey

    program = keyring.active_key()
    assert program is not None, "seed the originals first"
    todo = [
        str(pk)
        for pk in Case.objects.exclude(pk__in=CaseKey.objects.values("case_id")).values_list(
            "pk", flat=True
        )
    ]
    if not todo:
        return 0
    started = time.monotonic()
    q = connection.ops.quote_name
    cases_t, messages_t, keys_t = (q(m._meta.db_table) for m in (Case, Message, CaseKey))
    batches = []
    for start in range(0, len(todo), BATCH):
        ids = todo[start : start + BATCH]
        rows = (
            Message.objects.filter(case_id__in=ids)
            .order_by("case_id", "created_at", "id")
            .values_list("id", "case_id")
        )
        ranked, last, rank = [], None, 0
        for message_id, case_id in rows:
            rank = rank + 1 if case_id == last else 0
            last = case_id
            ranked.append((int(message_id), str(case_id), rank))
        batches.append((bytes(program.public_key), int(program.pk), ids, ranked))
    connection.close()  # the workers fork: no shared connection
    done = 0
    context = multiprocessing.get_context("fork")
    with context.Pool(os.cpu_count() or 1) as pool:
        for cases, keys, bodies in pool.imap_unordered(_seal_batch, batches):
            with connection.cursor() as cursor:
                raw = cursor.connection
                with raw.transaction():
                    raw.execute(
                        "CREATE TEMP TABLE reseal_c (id uuid, wk bytea, sa bytea) ON COMMIT DROP"
                    )
                    raw.execute("CREATE TEMP TABLE reseal_m (id bigint, b bytea) ON COMMIT DROP")
                    with raw.cursor().copy("COPY reseal_c FROM STDIN") as copy:
                        for case_row in cases:
                            copy.write_row(case_row)
                    with raw.cursor().copy("COPY reseal_m FROM STDIN") as copy:
                        for body_row in bodies:
                            copy.write_row(body_row)
                    # Only names from the models' own metadata go into these statements.
                    raw.execute(
                        f"UPDATE {cases_t} c SET wrapped_key = r.wk, sealed_answers = r.sa"  # noqa: S608
                        " FROM reseal_c r WHERE c.id = r.id"
                    )
                    raw.execute(
                        f"UPDATE {messages_t} m SET body_sealed = r.b FROM reseal_m r"  # noqa: S608
                        " WHERE m.id = r.id"
                    )
                    with raw.cursor().copy(
                        f"COPY {keys_t} (case_id, public_key, sealed_private_key, program_key_id)"
                        " FROM STDIN"
                    ) as copy:
                        for key_case, public, sealed_private in keys:
                            copy.write_row((key_case, public, sealed_private, program.pk))
            done += len(cases)
            print(
                f"  sealed {done} of {len(todo)} copies ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return done
