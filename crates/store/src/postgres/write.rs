//! The PostgreSQL write path: batches as transactions, new resources created in one statement,
//! existing ones locked in `res_key` order and updated with set-based statements.

use super::*;

impl PostgresStore {
    pub async fn commit(&self, batch: Batch) -> Result<Vec<Written>, StoreError> {
        let serializable = batch
            .conditions
            .iter()
            .any(|c| matches!(c, Condition::Matches { .. }));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(if serializable {
                    IsolationLevel::Serializable
                } else {
                    IsolationLevel::ReadCommitted
                })
                .start()
                .await?;
            let result = match self.apply(&tx, &batch).await {
                Ok(w) => tx.commit().await.map(|_| w).map_err(StoreError::from_pg),
                Err(e) => Err(e),
            };
            match result {
                Err(StoreError::Backend(msg))
                    if msg.starts_with(RETRYABLE) && attempt < RETRIES =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(attempt as u64 * 2)).await;
                    continue;
                }
                Err(StoreError::Backend(msg)) if msg.starts_with(RETRYABLE) => {
                    tracing::warn!(
                        attempts = RETRIES,
                        "a batch kept conflicting with concurrent ones; refused"
                    );
                    return Err(StoreError::Unavailable(format!(
                        "too much contention on the same resources ({RETRIES} attempts); try again"
                    )));
                }
                other => return other,
            }
        }
    }

    async fn apply(&self, tx: &Transaction<'_>, batch: &Batch) -> Result<Vec<Written>, StoreError> {
        // Rows named by version conditions are locked together, in one order (res_key) that
        // every transaction uses, so two batches never wait for each other in a cycle.
        let version_keys: Vec<(String, String)> = batch
            .conditions
            .iter()
            .filter_map(|c| match c {
                Condition::Version { rtype, id, .. } => Some((rtype.clone(), id.clone())),
                Condition::Matches { .. } | Condition::NoImage { .. } => None,
            })
            .collect();
        let locked = if version_keys.is_empty() {
            HashMap::new()
        } else {
            lock_current(tx, &version_keys).await?
        };
        for (index, cond) in batch.conditions.iter().enumerate() {
            let (holds, on_fail) = match cond {
                Condition::Version {
                    rtype,
                    id,
                    version,
                    on_fail,
                } => (
                    locked.get(&(rtype.clone(), id.clone())).map(|c| c.version) == *version,
                    *on_fail,
                ),
                Condition::Matches {
                    rtype,
                    filters,
                    ids,
                    on_fail,
                } => (
                    crate::sorted_ids(
                        super::run_search(
                            &**tx,
                            &crate::SearchSpec::matching(rtype, filters, ids.len() + 1),
                        )
                        .await?
                        .hits,
                    ) == *ids,
                    *on_fail,
                ),
                Condition::NoImage { sop_uid, on_fail } => (
                    crate::imaging::stored_postgres(&**tx, sop_uid)
                        .await?
                        .is_none(),
                    *on_fail,
                ),
            };
            if !holds {
                return Err(StoreError::ConditionFailed { index, on_fail });
            }
        }
        // Rounds of distinct resources: the k-th write of a resource goes in round k.
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        let mut rounds: Vec<Vec<usize>> = Vec::new();
        for (i, w) in batch.writes.iter().enumerate() {
            let key = match w {
                Write::Put { rtype, id, .. } | Write::Delete { rtype, id } => {
                    (rtype.as_str(), id.as_str())
                }
            };
            let round = seen.entry(key).and_modify(|r| *r += 1).or_insert(0);
            if rounds.len() <= *round {
                rounds.push(Vec::new());
            }
            rounds[*round].push(i);
        }
        let mut out: Vec<Option<Written>> = vec![None; batch.writes.len()];
        for round in rounds {
            self.apply_round(tx, batch, &round, &mut out).await?;
        }
        if !batch.images.is_empty()
            && let Err(n) = crate::imaging::insert_postgres(&**tx, &batch.images).await?
        {
            return Err(crate::imaging::conflict(
                &batch.conditions,
                &batch.images[n].sop_uid,
            ));
        }
        if !batch.audit.is_empty() {
            // Last, so the audit table's lock is held only from here to the commit.
            let recorded = jiff::Timestamp::now().as_microsecond();
            crate::audit::append_postgres_many(tx, &[(batch.audit.as_slice(), recorded)]).await?;
        }
        // Every write belongs to exactly one round; a gap would be a bug, refused as an error.
        out.into_iter()
            .map(|w| {
                w.ok_or_else(|| {
                    StoreError::Backend("internal error: a write was not applied".into())
                })
            })
            .collect()
    }

    /// Applies writes to distinct resources. New resources are created in one statement
    /// (resource row, history row and index rows together); the rest are locked and updated.
    async fn apply_round(
        &self,
        tx: &Transaction<'_>,
        batch: &Batch,
        round: &[usize],
        out: &mut [Option<Written>],
    ) -> Result<(), StoreError> {
        let created = self.create_new(tx, batch, round, out).await?;
        let rest: Vec<usize> = round
            .iter()
            .copied()
            .filter(|i| !created.contains(i))
            .collect();
        if rest.is_empty() {
            return Ok(());
        }
        let key = |i: usize| match &batch.writes[i] {
            Write::Put { rtype, id, .. } | Write::Delete { rtype, id } => {
                (rtype.clone(), id.clone())
            }
        };
        let keys: Vec<(String, String)> = rest.iter().map(|&i| key(i)).collect();
        let current = lock_current(tx, &keys).await?;

        let mut ended = (Vec::new(), Vec::new());
        let mut h = HistoryRows::default();
        let mut index_res: Vec<i64> = Vec::new();
        let mut idx = IndexCols::default();
        let mut pending: Vec<(usize, Version, WriteOutcome)> = Vec::new();
        for &i in &rest {
            let cur = current.get(&key(i));
            match (&batch.writes[i], cur) {
                (
                    Write::Put {
                        rtype,
                        id,
                        body,
                        method,
                        content_hash,
                        skip_if_unchanged,
                        index,
                    },
                    Some(cur),
                ) => {
                    if *skip_if_unchanged
                        && !cur.deleted
                        && cur.hash.as_deref() == Some(&content_hash[..])
                    {
                        let v = load_seq(tx, cur.seq, rtype, id).await?;
                        out[i] = Some(Written {
                            outcome: WriteOutcome::Unchanged,
                            version: Some(v),
                        });
                        continue;
                    }
                    // Never before the previous version, whatever another node's clock says.
                    let ts = self.next_ts().max(cur.last_updated + 1);
                    let version = cur.version + 1;
                    let text = stamp(&mut body.clone(), version, ts);
                    ended.0.push(cur.seq);
                    ended.1.push(ts);
                    h.push(
                        cur.res_key,
                        rtype,
                        version,
                        ts,
                        method.as_str(),
                        Some(content_hash.to_vec()),
                        Some(text.to_string()),
                    );
                    index_res.push(cur.res_key);
                    idx.extend(cur.res_key, index);
                    let outcome = if cur.deleted {
                        WriteOutcome::Created
                    } else {
                        WriteOutcome::Updated
                    };
                    let v = Version {
                        rtype: rtype.clone(),
                        id: id.clone(),
                        version,
                        last_updated: ts,
                        method: *method,
                        body: Some(text),
                    };
                    pending.push((i, v, outcome));
                }
                (Write::Put { .. }, None) => {
                    // Rows of `resource` are never removed: a create that conflicted finds it.
                    return Err(StoreError::Backend(format!(
                        "{RETRYABLE}a resource row vanished"
                    )));
                }
                (Write::Delete { rtype, id }, Some(cur)) if !cur.deleted => {
                    // Never before the previous version, whatever another node's clock says.
                    let ts = self.next_ts().max(cur.last_updated + 1);
                    let version = cur.version + 1;
                    ended.0.push(cur.seq);
                    ended.1.push(ts);
                    h.push(
                        cur.res_key,
                        rtype,
                        version,
                        ts,
                        Method::Delete.as_str(),
                        None,
                        None,
                    );
                    index_res.push(cur.res_key);
                    let v = Version {
                        rtype: rtype.clone(),
                        id: id.clone(),
                        version,
                        last_updated: ts,
                        method: Method::Delete,
                        body: None,
                    };
                    pending.push((i, v, WriteOutcome::Deleted));
                }
                (Write::Delete { rtype, id }, Some(cur)) => {
                    let v = load_seq(tx, cur.seq, rtype, id).await?;
                    out[i] = Some(Written {
                        outcome: WriteOutcome::NothingToDelete,
                        version: Some(v),
                    });
                }
                (Write::Delete { .. }, None) => {
                    out[i] = Some(Written {
                        outcome: WriteOutcome::NothingToDelete,
                        version: None,
                    });
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        tx.execute(
            &prep(tx, "UPDATE history h SET ended = u.ts FROM unnest($1::bigint[], $2::bigint[]) AS u(seq, ts) WHERE h.seq = u.seq").await?,
            &[&ended.0, &ended.1],
        )
        .await
        .map_err(StoreError::from_pg)?;
        // The resource rows take their new state and a fresh history seq; the history rows follow.
        let deleted: Vec<bool> = h.body.iter().map(Option::is_none).collect();
        tx.execute(
            &prep(
                tx,
                "WITH u AS (
                    UPDATE resource r SET version = x.v, seq = nextval('history_seq_seq'), deleted = x.d, last_updated = x.ts
                    FROM unnest($1::bigint[], $3::bigint[], $4::bigint[], $8::boolean[]) AS x(k, v, ts, d)
                    WHERE r.res_key = x.k RETURNING r.res_key, r.seq)
                 INSERT INTO history (seq, res_key, type, version, last_updated, method, hash, body)
                 SELECT u.seq, x.k, x.t, x.v, x.ts, x.m, x.h, x.b
                 FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bytea[], $7::text[])
                      AS x(k, t, v, ts, m, h, b)
                 JOIN u ON u.res_key = x.k",
            )
            .await?,
            &[&h.res_key, &h.rtype, &h.version, &h.ts, &h.method, &h.hash, &h.body, &deleted],
        )
        .await
        .map_err(StoreError::from_pg)?;
        idx.replace(tx, &index_res).await?;
        for (i, v, outcome) in pending {
            out[i] = Some(Written {
                outcome,
                version: Some(v),
            });
        }
        Ok(())
    }

    /// Creates, in one statement, every Put of `round` whose resource does not exist yet;
    /// returns their write indexes (the others already exist).
    async fn create_new(
        &self,
        tx: &Transaction<'_>,
        batch: &Batch,
        round: &[usize],
        out: &mut [Option<Written>],
    ) -> Result<Vec<usize>, StoreError> {
        let mut tried: HashMap<(String, String), (usize, Version, &crate::IndexRows)> =
            HashMap::new();
        let (mut t, mut d, mut ts, mut m, mut hash, mut body) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        // Inserted in (type, id) order, the same in every transaction.
        let mut order: Vec<usize> = round.to_vec();
        order.sort_by(|&a, &b| write_key(&batch.writes[a]).cmp(&write_key(&batch.writes[b])));
        for &i in &order {
            let Write::Put {
                rtype,
                id,
                body: b,
                method,
                content_hash,
                index,
                ..
            } = &batch.writes[i]
            else {
                continue;
            };
            let now = self.next_ts();
            let text = stamp(&mut b.clone(), 1, now);
            t.push(rtype.as_str());
            d.push(id.as_str());
            ts.push(now);
            m.push(method.as_str());
            hash.push(content_hash.to_vec());
            body.push(text.to_string());
            let v = Version {
                rtype: rtype.clone(),
                id: id.clone(),
                version: 1,
                last_updated: now,
                method: *method,
                body: Some(text),
            };
            tried.insert((rtype.clone(), id.clone()), (i, v, index));
        }
        if tried.is_empty() {
            return Ok(vec![]);
        }
        let rows = tx
            .query(
                &prep(
                    tx,
                    "WITH x AS (
                        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[], $6::text[])
                        AS x(t, i, ts, m, h, b)),
                     ins AS (
                        INSERT INTO resource (type, id, version, seq, deleted, last_updated)
                        SELECT t, i, 1, nextval('history_seq_seq'), false, ts FROM x
                        ON CONFLICT (type, id) DO NOTHING RETURNING res_key, type, id, seq),
                     hist AS (
                        INSERT INTO history (seq, res_key, type, version, last_updated, method, hash, body)
                        SELECT ins.seq, ins.res_key, x.t, 1, x.ts, x.m, x.h, x.b
                        FROM ins JOIN x ON x.t = ins.type AND x.i = ins.id)
                     SELECT type, id, res_key FROM ins",
                )
                .await?,
                &[&t, &d, &ts, &m, &hash, &body],
            )
            .await
            .map_err(StoreError::from_pg)?;
        let mut created = Vec::with_capacity(rows.len());
        let mut idx = IndexCols::default();
        for r in rows {
            if let Some((i, v, index)) = tried.remove(&(r.get(0), r.get(1))) {
                idx.extend(r.get(2), index);
                out[i] = Some(Written {
                    outcome: WriteOutcome::Created,
                    version: Some(v),
                });
                created.push(i);
            }
        }
        idx.insert(tx).await?;
        Ok(created)
    }
}

fn write_key(w: &Write) -> (&str, &str) {
    match w {
        Write::Put { rtype, id, .. } | Write::Delete { rtype, id } => (rtype, id),
    }
}

/// Columns of history rows to insert, one vector per column (for `unnest`).
#[derive(Default)]
struct HistoryRows {
    res_key: Vec<i64>,
    rtype: Vec<String>,
    version: Vec<i64>,
    ts: Vec<i64>,
    method: Vec<&'static str>,
    hash: Vec<Option<Vec<u8>>>,
    body: Vec<Option<String>>,
}

impl HistoryRows {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        res_key: i64,
        rtype: &str,
        version: u64,
        ts: i64,
        method: &'static str,
        hash: Option<Vec<u8>>,
        body: Option<String>,
    ) {
        self.res_key.push(res_key);
        self.rtype.push(rtype.to_string());
        self.version.push(version as i64);
        self.ts.push(ts);
        self.method.push(method);
        self.hash.push(hash);
        self.body.push(body);
    }
}

/// Columns of index rows to insert, one vector per column (for `unnest`).
#[derive(Default)]
struct IndexCols {
    res_key: Vec<i64>,
    param: Vec<i32>,
    c1: Vec<String>,
    c2: Vec<String>,
    c3: Vec<String>,
    lo: Vec<i64>,
    hi: Vec<i64>,
    comp: CompositeCols,
    /// resource_text columns: res_key, narrative, content.
    text: (Vec<i64>, Vec<String>, Vec<String>),
}

/// composite_index columns: res_key, param, [a1, a2, b1, b2, b3], blo, bhi, c3.
type CompositeCols = (
    Vec<i64>,
    Vec<i32>,
    [Vec<String>; 5],
    Vec<i64>,
    Vec<i64>,
    Vec<String>,
);

impl IndexCols {
    fn extend(&mut self, res_key: i64, index: &crate::IndexRows) {
        if let Some(t) = index.text() {
            self.text.0.push(res_key);
            self.text.1.push(t.narrative.clone());
            self.text.2.push(t.content.clone());
        }
        for r in &index.rows {
            self.res_key.push(res_key);
            self.param.push(r.param);
            self.c1.push(r.c1.clone());
            self.c2.push(r.c2.clone());
            self.c3.push(r.c3.clone());
            self.lo.push(r.lo);
            self.hi.push(r.hi);
        }
        for r in &index.composites {
            let c = &mut self.comp;
            c.0.push(res_key);
            c.1.push(r.param);
            for (col, v) in c.2.iter_mut().zip([&r.a1, &r.a2, &r.b1, &r.b2, &r.b3]) {
                col.push(v.clone());
            }
            c.3.push(r.blo);
            c.4.push(r.bhi);
            c.5.push(r.c3.clone());
        }
    }

    /// Replaces the index rows of `res_keys` by these.
    async fn replace(&self, tx: &Transaction<'_>, res_keys: &[i64]) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM search_index WHERE res_key = ANY($1)",
            "DELETE FROM composite_index WHERE res_key = ANY($1)",
            "DELETE FROM resource_text WHERE res_key = ANY($1)",
        ] {
            tx.execute(&prep(tx, sql).await?, &[&res_keys])
                .await
                .map_err(StoreError::from_pg)?;
        }
        self.insert(tx).await
    }

    async fn insert(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        if !self.res_key.is_empty() {
            tx.execute(
                &prep(
                    tx,
                    "INSERT INTO search_index (param, c1, c2, c3, lo, hi, res_key)
                     SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])",
                )
                .await?,
                &[&self.param, &self.c1, &self.c2, &self.c3, &self.lo, &self.hi, &self.res_key],
            )
            .await
            .map_err(StoreError::from_pg)?;
        }
        let t = &self.text;
        if !t.0.is_empty() {
            tx.execute(
                &prep(
                    tx,
                    "INSERT INTO resource_text (res_key, narrative, content)
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])",
                )
                .await?,
                &[&t.0, &t.1, &t.2],
            )
            .await
            .map_err(StoreError::from_pg)?;
        }
        let c = &self.comp;
        if !c.0.is_empty() {
            tx.execute(
                &prep(
                    tx,
                    "INSERT INTO composite_index (param, a1, a2, b1, b2, b3, blo, bhi, c3, res_key)
                     SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::bigint[])",
                )
                .await?,
                &[&c.1, &c.2[0], &c.2[1], &c.2[2], &c.2[3], &c.2[4], &c.3, &c.4, &c.5, &c.0],
            )
            .await
            .map_err(StoreError::from_pg)?;
        }
        Ok(())
    }
}

impl PostgresStore {
    /// See [`crate::Store::reindex`]: the rows are locked in `res_key` order, as every batch
    /// locks them, and replaced where the version is still the one read.
    pub async fn reindex(&self, mut items: Vec<crate::Reindexed>) -> Result<usize, StoreError> {
        items.sort_by_key(|i| i.res_key);
        let keys: Vec<i64> = items.iter().map(|i| i.res_key).collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let result = async {
                let rows = tx
                    .query(
                        &prep(
                            &tx,
                            "SELECT res_key, seq FROM resource WHERE res_key = ANY($1) AND NOT deleted ORDER BY res_key FOR UPDATE",
                        )
                        .await?,
                        &[&keys],
                    )
                    .await
                    .map_err(StoreError::from_pg)?;
                let live: HashMap<i64, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                let mut idx = IndexCols::default();
                let mut replaced = Vec::new();
                for item in &items {
                    if live.get(&item.res_key) == Some(&item.seq) {
                        idx.extend(item.res_key, &item.index);
                        replaced.push(item.res_key);
                    }
                }
                idx.replace(&tx, &replaced).await?;
                Ok::<usize, StoreError>(replaced.len())
            }
            .await;
            let result = match result {
                Ok(n) => tx.commit().await.map(|_| n).map_err(StoreError::from_pg),
                Err(e) => Err(e),
            };
            match result {
                Err(StoreError::Backend(msg))
                    if msg.starts_with(RETRYABLE) && attempt < RETRIES =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(attempt as u64 * 2)).await;
                }
                other => return other,
            }
        }
    }
}
