//! Prints the SQL a search runs on the embedded store, and SQLite's plan for it:
//! `cargo run --release -p kizuna-store --example explain -- DB TYPE 'QUERY'`.
use kizuna_store::search::{Dialect, SearchSpec, plan};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, rtype, query] = &args[..] else {
        eprintln!("usage: explain DB TYPE QUERY");
        std::process::exit(2);
    };
    // `Patient/ID` as TYPE: the compartment of that patient, over every type ($everything).
    let (types, compartment, qtype) = match rtype.strip_prefix("Patient/") {
        Some(id) => {
            let defs = kizuna_fhir::r4();
            let types: Vec<String> = defs
                .resource_types()
                .iter()
                .filter(|t| *t == "Patient" || !defs.patient_compartment(t).is_empty())
                .cloned()
                .collect();
            let keys = types
                .iter()
                .flat_map(|t| {
                    defs.patient_compartment(t)
                        .iter()
                        .flat_map(|c| kizuna_store::index::stored_keys(t, c, ""))
                        .collect::<Vec<_>>()
                })
                .collect();
            let c = kizuna_store::search::Compartment {
                owner_type: "Patient".into(),
                owner_id: id.into(),
                keys,
            };
            (types, Some(c), None)
        }
        None => (vec![rtype.clone()], None, Some(rtype.as_str())),
    };
    let (q, _) = kizuna_search::parse_query_string(qtype, query, kizuna_search::Handling::Strict)
        .expect("query parses");
    let spec = SearchSpec {
        types,
        filters: q.filters,
        sort: q.sort,
        count: q.count as usize,
        cursor: None,
        backward: false,
        total: false,
        budget: std::time::Duration::from_secs(10),
        compartment,
    };
    if db.starts_with("postgres") {
        let p = plan(&spec, Dialect::Postgres).expect("plan");
        let args: Vec<String> = p
            .page
            .args
            .iter()
            .map(|a| match a {
                kizuna_store::search::Arg::I32(x) => x.to_string(),
                kizuna_store::search::Arg::I64(x) => x.to_string(),
                kizuna_store::search::Arg::Text(t) => format!("'{}'", t.replace('\'', "''")),
            })
            .collect();
        println!(
            "PREPARE q AS {};\nEXPLAIN (ANALYZE, BUFFERS) EXECUTE q({});",
            p.page.numbered(),
            args.join(", ")
        );
        return;
    }
    let p = plan(&spec, Dialect::Sqlite).expect("plan");
    println!("{}\n", p.page.text);
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare(&format!("EXPLAIN QUERY PLAN {}", p.page.text))
        .unwrap();
    bind(&mut st, &p.page.args);
    let mut rows = st.raw_query();
    while let Some(r) = rows.next().unwrap() {
        let id: i64 = r.get(0).unwrap();
        let parent: i64 = r.get(1).unwrap();
        let d: String = r.get(3).unwrap();
        println!("{id:>3} {parent:>3} {d}");
    }
    let t = std::time::Instant::now();
    let mut st = c.prepare(&p.page.text).unwrap();
    bind(&mut st, &p.page.args);
    let mut rows = st.raw_query();
    let mut n = 0;
    while rows.next().unwrap().is_some() {
        n += 1;
    }
    println!("\n{n} rows in {:?}", t.elapsed());
}

fn bind(st: &mut rusqlite::Statement, args: &[kizuna_store::search::Arg]) {
    use kizuna_store::search::Arg;
    for (i, a) in args.iter().enumerate() {
        let v = match a {
            Arg::I32(x) => rusqlite::types::Value::Integer(i64::from(*x)),
            Arg::I64(x) => rusqlite::types::Value::Integer(*x),
            Arg::Text(t) => rusqlite::types::Value::Text(t.clone()),
        };
        st.raw_bind_parameter(i + 1, v).unwrap();
    }
}
