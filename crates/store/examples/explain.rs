//! Prints the SQL a search runs on the embedded store, and SQLite's plan for it:
//! `cargo run --release -p kizuna-store --example explain -- DB TYPE 'QUERY'`.
use kizuna_store::search::{Dialect, SearchSpec, plan};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, rtype, query] = &args[..] else {
        eprintln!("usage: explain DB TYPE QUERY");
        std::process::exit(2);
    };
    let (q, _) =
        kizuna_search::parse_query_string(Some(rtype), query, kizuna_search::Handling::Strict)
            .expect("query parses");
    let spec = SearchSpec {
        types: vec![rtype.clone()],
        filters: q.filters,
        sort: q.sort,
        count: 50,
        cursor: None,
        backward: false,
        total: false,
        budget: std::time::Duration::from_secs(10),
        compartment: None,
    };
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
