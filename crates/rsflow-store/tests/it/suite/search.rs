//! search_runs and search_experiments: filters, ordering, paging, view types, validation.

use rsflow_core::ErrorCode;
use rsflow_core::wire::{Dataset, DatasetInput, ModelInput, ModelOutput, Run, RunStatus, ViewType};
use rsflow_store::{CreateRun, SearchExperiments, SearchRuns, TrackingStore};

use super::{Collation, assert_err, kv, metric};

/// Runs a..e in one experiment (e deleted), one run in another experiment.
struct Fixture {
    exp: String,
    a: String,
    b: String,
    c: String,
    d: String,
    e: String,
}

async fn create(s: &dyn TrackingStore, exp: &str, name: &str, start: i64) -> String {
    s.create_run(CreateRun {
        experiment_id: exp.into(),
        user_id: format!("user-{name}"),
        run_name: Some(name.into()),
        start_time: start,
        tags: vec![],
    })
    .await
    .unwrap()
    .info
    .run_id
}

async fn fixture(s: &dyn TrackingStore) -> Fixture {
    let exp = s.create_experiment("search", None, &[]).await.unwrap();
    let other = s.create_experiment("other", None, &[]).await.unwrap();
    let a = create(s, &exp, "alpha", 100).await;
    let b = create(s, &exp, "beta", 300).await;
    let c = create(s, &exp, "gamma", 200).await;
    let d = create(s, &exp, "Delta", 200).await;
    let e = create(s, &exp, "eps", 400).await;
    create(s, &other, "elsewhere", 500).await;
    s.log_batch(
        &a,
        &[metric("loss", 0.5, 1, 0), metric("acc", 0.9, 1, 0)],
        &[kv("lr", "0.1"), kv("opt", "adam")],
        &[kv("team", "Vision"), kv("quote", "it's ' OR '1'='1")],
    )
    .await
    .unwrap();
    s.log_batch(
        &b,
        &[metric("loss", 2.0, 1, 0), metric("loss", 0.1, 1, 1)],
        &[kv("lr", "0.2")],
        &[kv("team", "vision")],
    )
    .await
    .unwrap();
    s.log_batch(
        &c,
        &[metric("loss", f64::NAN, 1, 0)],
        &[],
        &[kv("team", "nlp")],
    )
    .await
    .unwrap();
    s.log_batch(&e, &[metric("loss", 0.0, 1, 0)], &[], &[])
        .await
        .unwrap();
    s.update_run(&a, Some(RunStatus::Finished), Some(150), None)
        .await
        .unwrap();
    s.log_inputs(
        &a,
        &[DatasetInput {
            tags: vec![kv("mlflow.data.context", "training")],
            dataset: Dataset {
                name: "mnist".into(),
                digest: "abc".into(),
                source_type: "code".into(),
                source: "{}".into(),
                schema: None,
                profile: None,
            },
        }],
        &[ModelInput {
            model_id: "m-1".into(),
        }],
    )
    .await
    .unwrap();
    s.log_outputs(
        &a,
        &[ModelOutput {
            model_id: "m-2".into(),
            step: 1,
        }],
    )
    .await
    .unwrap();
    s.delete_run(&e).await.unwrap();
    Fixture { exp, a, b, c, d, e }
}

fn q(exp: &str, filter: &str) -> SearchRuns {
    SearchRuns {
        experiment_ids: vec![exp.to_string()],
        filter: filter.to_string(),
        max_results: 1000,
        ..Default::default()
    }
}

async fn ids(s: &dyn TrackingStore, query: &SearchRuns) -> Vec<String> {
    s.search_runs(query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.info.run_id)
        .collect()
}

async fn check(s: &dyn TrackingStore, exp: &str, filter: &str, expected: &[&String]) {
    let mut got = ids(s, &q(exp, filter)).await;
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "filter {filter:?}");
}

pub async fn run_filters(s: &dyn TrackingStore) {
    let f = fixture(s).await;
    let (a, b, c, d) = (&f.a, &f.b, &f.c, &f.d);
    // Default order is start_time DESC then run id; e is deleted.
    let all = ids(s, &q(&f.exp, "")).await;
    let mut cd = [c.clone(), d.clone()];
    cd.sort();
    assert_eq!(
        all,
        vec![b.clone(), cd[0].clone(), cd[1].clone(), a.clone()]
    );

    // Metrics match the latest value (b's latest loss is 0.1 at step 1).
    check(s, &f.exp, "metrics.loss < 1", &[a, b]).await;
    check(s, &f.exp, "metrics.loss > 1", &[]).await;
    check(s, &f.exp, "metrics.loss != 0.5", &[b, c]).await;
    check(s, &f.exp, "metrics.loss = 0", &[]).await;
    check(s, &f.exp, "metrics.acc >= 0.9", &[a]).await;
    check(s, &f.exp, "params.lr = '0.1'", &[a]).await;
    check(s, &f.exp, "params.lr LIKE '0.%'", &[a, b]).await;
    check(s, &f.exp, "params.lr != '0.1'", &[b]).await;
    check(s, &f.exp, "params.opt IS NULL", &[b, c, d]).await;
    check(s, &f.exp, "params.opt IS NOT NULL", &[a]).await;
    check(s, &f.exp, "tags.team = 'vision'", &[b]).await;
    check(s, &f.exp, "tags.team LIKE 'V%'", &[a]).await;
    check(s, &f.exp, "tags.team ILIKE 'V%'", &[a, b]).await;
    check(s, &f.exp, "tags.quote = 'it''s '' OR ''1''=''1'", &[]).await;
    check(s, &f.exp, "tags.quote = \"it's ' OR '1'='1\"", &[a]).await;
    check(s, &f.exp, "tags.team IS NULL", &[d]).await;
    check(s, &f.exp, "attributes.status = 'FINISHED'", &[a]).await;
    check(s, &f.exp, "status != 'FINISHED'", &[b, c, d]).await;
    check(s, &f.exp, "attributes.run_name = 'beta'", &[b]).await;
    check(s, &f.exp, "run_name ILIKE 'd%'", &[d]).await;
    check(s, &f.exp, "run_name LIKE 'd%'", &[]).await;
    check(s, &f.exp, "attributes.user_id = 'user-gamma'", &[c]).await;
    check(s, &f.exp, "attributes.start_time >= 200", &[b, c, d]).await;
    check(s, &f.exp, "created < 200", &[a]).await;
    check(s, &f.exp, "attributes.end_time = 150", &[a]).await;
    let filter = format!("attributes.run_id IN ('{a}', '{c}')");
    let mut got = ids(s, &q(&f.exp, &filter)).await;
    got.sort();
    let mut want = vec![a.clone(), c.clone()];
    want.sort();
    assert_eq!(got, want);
    let filter = format!("run_id NOT IN ('{a}')");
    assert_eq!(ids(s, &q(&f.exp, &filter)).await.len(), 3);
    check(s, &f.exp, "datasets.name = 'mnist'", &[a]).await;
    check(s, &f.exp, "dataset.digest LIKE 'ab%'", &[a]).await;
    check(s, &f.exp, "datasets.context = 'training'", &[a]).await;
    check(s, &f.exp, "datasets.context = 'eval'", &[]).await;
    check(
        s,
        &f.exp,
        "metrics.loss < 1 and params.lr = '0.2' and tags.team = 'vision'",
        &[b],
    )
    .await;

    assert_err(
        s.search_runs(&q(&f.exp, "metrics.loss < 1 or params.lr = '0.2'"))
            .await,
        ErrorCode::InvalidParameterValue,
        "Invalid clause(s) in filter string",
    );
}

pub async fn run_view_types_and_results(s: &dyn TrackingStore) {
    let f = fixture(s).await;
    let mut query = q(&f.exp, "");
    query.view_type = ViewType::DeletedOnly;
    assert_eq!(ids(s, &query).await, vec![f.e.clone()]);
    query.view_type = ViewType::All;
    assert_eq!(ids(s, &query).await.len(), 5);
    // Two experiments at once.
    let mut both = q(&f.exp, "");
    both.experiment_ids.push("2".into());
    assert_eq!(ids(s, &both).await.len(), 5);
    // No experiments: nothing.
    let none = SearchRuns {
        max_results: 10,
        ..Default::default()
    };
    assert!(s.search_runs(&none).await.unwrap().items.is_empty());

    // Searched runs carry data, dataset inputs and outputs (model inputs only on get_run, as
    // in MLflow).
    let page = s
        .search_runs(&q(&f.exp, "attributes.run_name = 'alpha'"))
        .await
        .unwrap();
    let run: &Run = &page.items[0];
    assert_eq!(run.info.run_name, "alpha");
    assert_eq!(run.info.status, "FINISHED");
    assert_eq!(run.data.metrics.len(), 2);
    assert_eq!(run.data.params.len(), 2);
    assert_eq!(run.inputs.dataset_inputs.len(), 1);
    assert!(run.inputs.model_inputs.is_empty());
    assert_eq!(run.outputs.as_ref().unwrap().model_outputs.len(), 1);
    assert_eq!(s.get_run(&f.a).await.unwrap().inputs.model_inputs.len(), 1);

    assert_err(
        s.search_runs(&SearchRuns {
            max_results: 0,
            ..q(&f.exp, "")
        })
        .await,
        ErrorCode::InvalidParameterValue,
        "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer",
    );
    assert_err(
        s.search_runs(&SearchRuns {
            max_results: 50001,
            ..q(&f.exp, "")
        })
        .await,
        ErrorCode::InvalidParameterValue,
        "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000",
    );
    assert_err(
        s.search_runs(&q("abc", "")).await,
        ErrorCode::InvalidParameterValue,
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
    );
    assert_err(
        s.search_runs(&SearchRuns {
            page_token: Some("not base64!".into()),
            ..q(&f.exp, "")
        })
        .await,
        ErrorCode::InvalidParameterValue,
        "Invalid page token",
    );
}

pub async fn run_ordering_and_paging(s: &dyn TrackingStore) {
    run_ordering_and_paging_under(s, Collation::Binary).await
}

/// Text orders (run names, tag values) sort as the column's collation does: bytewise on SQLite
/// and PostgreSQL, ignoring case on MySQL, as MLflow's `ORDER BY` there.
pub async fn run_ordering_and_paging_under(s: &dyn TrackingStore, collation: Collation) {
    let ci = collation == Collation::CaseInsensitive;
    let f = fixture(s).await;
    let order = |o: &[&str]| SearchRuns {
        order_by: o.iter().map(|s| s.to_string()).collect(),
        ..q(&f.exp, "")
    };
    // Values ascending, then NaN (c), then no value (d).
    assert_eq!(
        ids(s, &order(&["metrics.loss ASC"])).await,
        vec![f.b.clone(), f.a.clone(), f.c.clone(), f.d.clone()]
    );
    // Descending keeps NaN and NULL last.
    assert_eq!(
        ids(s, &order(&["metrics.loss DESC"])).await,
        vec![f.a.clone(), f.b.clone(), f.c.clone(), f.d.clone()]
    );
    // Params: missing last both ways; ties fall back to start_time DESC.
    assert_eq!(
        ids(s, &order(&["params.lr DESC"]))
            .await
            .into_iter()
            .take(2)
            .collect::<Vec<_>>(),
        vec![f.b.clone(), f.a.clone()]
    );
    assert_eq!(
        ids(s, &order(&["attributes.start_time ASC"])).await[0],
        f.a.clone()
    );
    if ci {
        assert_eq!(
            ids(s, &order(&["run_name"])).await,
            vec![f.a.clone(), f.b.clone(), f.d.clone(), f.c.clone()],
            "alpha, beta, Delta, gamma"
        );
        // "Vision" and "vision" tie, and start_time breaks the tie.
        assert_eq!(
            ids(s, &order(&["tags.team", "start_time"])).await,
            vec![f.c.clone(), f.a.clone(), f.b.clone(), f.d.clone()]
        );
        assert_eq!(
            ids(s, &order(&["tags.team", "start_time DESC"])).await,
            vec![f.c.clone(), f.b.clone(), f.a.clone(), f.d.clone()]
        );
    } else {
        assert_eq!(
            ids(s, &order(&["run_name"])).await[0],
            f.d.clone(),
            "'Delta' < 'alpha'"
        );
        assert_eq!(
            ids(s, &order(&["tags.team", "start_time"])).await,
            vec![f.a.clone(), f.c.clone(), f.b.clone(), f.d.clone()]
        );
    }
    assert_err(
        s.search_runs(&order(&["metrics.loss", "metrics.loss DESC"]))
            .await,
        ErrorCode::InvalidParameterValue,
        "`order_by` contains duplicate fields: ['metrics.loss', 'metrics.loss DESC']",
    );

    // Paging: pages of 3 then 1, same order as one big page.
    let full = ids(s, &order(&["metrics.loss ASC"])).await;
    let mut query = SearchRuns {
        max_results: 3,
        ..order(&["metrics.loss ASC"])
    };
    let p1 = s.search_runs(&query).await.unwrap();
    assert_eq!(p1.items.len(), 3);
    let token = p1.next_page_token.clone().expect("a next page");
    assert_eq!(token, rsflow_core::page_token::encode_offset(3));
    query.page_token = Some(token);
    let p2 = s.search_runs(&query).await.unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.next_page_token, None);
    let paged: Vec<String> = p1
        .items
        .iter()
        .chain(&p2.items)
        .map(|r| r.info.run_id.clone())
        .collect();
    assert_eq!(paged, full);
    // Every page size walks every order in the same sequence as one big page (PostgreSQL
    // serves single-key orders in two parts: runs with a value, then the others).
    for o in [
        "metrics.loss ASC",
        "metrics.loss DESC",
        "attributes.start_time ASC",
        "attributes.start_time DESC",
        "attributes.end_time DESC",
        "attributes.run_name",
    ] {
        let full = ids(s, &order(&[o])).await;
        assert_eq!(full.len(), 4, "{o}");
        for size in 1..=4 {
            let mut query = SearchRuns {
                max_results: size,
                ..order(&[o])
            };
            let mut paged = Vec::new();
            loop {
                let page = s.search_runs(&query).await.unwrap();
                paged.extend(page.items.iter().map(|r| r.info.run_id.clone()));
                match page.next_page_token {
                    Some(t) => query.page_token = Some(t),
                    None => break,
                }
            }
            assert_eq!(paged, full, "{o}, pages of {size}");
        }
    }
    // A page past the end is empty.
    let past = s
        .search_runs(&SearchRuns {
            page_token: Some(rsflow_core::page_token::encode_offset(10)),
            ..order(&["metrics.loss DESC"])
        })
        .await
        .unwrap();
    assert!(past.items.is_empty() && past.next_page_token.is_none());
    // A page that ends exactly at the last run has no token.
    let exact = s
        .search_runs(&SearchRuns {
            max_results: 4,
            ..q(&f.exp, "")
        })
        .await
        .unwrap();
    assert_eq!(exact.next_page_token, None);
}

fn eq(filter: &str, view_type: ViewType, order_by: &[&str]) -> SearchExperiments {
    SearchExperiments {
        filter: filter.into(),
        view_type,
        max_results: 1000,
        order_by: order_by.iter().map(|s| s.to_string()).collect(),
        page_token: None,
    }
}

async fn names(s: &dyn TrackingStore, query: &SearchExperiments) -> Vec<String> {
    s.search_experiments(query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.name)
        .collect()
}

pub async fn experiment_search(s: &dyn TrackingStore) {
    experiment_search_under(s, Collation::Binary).await
}

/// Filters compare case-sensitively on every database (MLflow adds `BINARY` on MySQL);
/// `ORDER BY name` sorts as the column's collation does (ignoring case on MySQL).
pub async fn experiment_search_under(s: &dyn TrackingStore, collation: Collation) {
    let ci = collation == Collation::CaseInsensitive;
    let by_name = |binary: &[&'static str], case_insensitive: &[&'static str]| -> Vec<String> {
        let v = if ci { case_insensitive } else { binary };
        v.iter().map(|s| s.to_string()).collect()
    };
    // Keep creation times distinct from the Default experiment's.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let a = s
        .create_experiment("Apple", None, &[kv("kind", "fruit")])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let b = s
        .create_experiment("banana", None, &[kv("kind", "Fruit")])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let c = s.create_experiment("cherry-pie", None, &[]).await.unwrap();
    s.delete_experiment(&c).await.unwrap();

    // Default order: newest first.
    assert_eq!(
        names(s, &eq("", ViewType::ActiveOnly, &[])).await,
        vec!["banana", "Apple", "Default"]
    );
    assert_eq!(
        names(s, &eq("", ViewType::All, &["name"])).await,
        by_name(
            &["Apple", "Default", "banana", "cherry-pie"],
            &["Apple", "banana", "cherry-pie", "Default"]
        )
    );
    assert_eq!(
        names(s, &eq("", ViewType::All, &["name DESC"])).await,
        by_name(
            &["cherry-pie", "banana", "Default", "Apple"],
            &["Default", "cherry-pie", "banana", "Apple"]
        )
    );
    assert_eq!(
        names(s, &eq("", ViewType::DeletedOnly, &[])).await,
        vec!["cherry-pie"]
    );
    assert_eq!(
        names(s, &eq("name LIKE '%an%'", ViewType::All, &["name DESC"])).await,
        vec!["banana"]
    );
    assert_eq!(
        names(s, &eq("name ILIKE 'a%'", ViewType::All, &[])).await,
        vec!["Apple"]
    );
    assert_eq!(
        names(s, &eq("name = 'apple'", ViewType::All, &[])).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            s,
            &eq(
                &format!("experiment_id IN ('{a}', '{c}')"),
                ViewType::All,
                &["experiment_id"]
            )
        )
        .await,
        vec!["Apple", "cherry-pie"]
    );
    assert_eq!(
        names(
            s,
            &eq(
                &format!("experiment_id != '{a}'"),
                ViewType::ActiveOnly,
                &["name"]
            )
        )
        .await,
        by_name(&["Default", "banana"], &["banana", "Default"])
    );
    assert_eq!(
        names(s, &eq("tags.kind = 'fruit'", ViewType::All, &[])).await,
        vec!["Apple"]
    );
    assert_eq!(
        names(s, &eq("tags.kind ILIKE 'FRUIT'", ViewType::All, &["name"])).await,
        vec!["Apple", "banana"]
    );
    assert_eq!(
        names(s, &eq("tags.kind IS NULL", ViewType::All, &["name"])).await,
        by_name(&["Default", "cherry-pie"], &["cherry-pie", "Default"])
    );
    // Keys and values compare case-sensitively.
    assert_eq!(
        names(s, &eq("tags.kind = 'Fruit'", ViewType::All, &[])).await,
        vec!["banana"]
    );
    assert_eq!(
        names(s, &eq("tags.kind != 'fruit'", ViewType::All, &[])).await,
        vec!["banana"]
    );
    assert_eq!(
        names(s, &eq("name LIKE 'A%'", ViewType::All, &[])).await,
        vec!["Apple"]
    );
    if ci {
        // MLflow's `BINARY` LIKE on MySQL (SQLite's LIKE ignores ASCII case, as MLflow's there).
        assert_eq!(
            names(s, &eq("name LIKE 'a%'", ViewType::All, &[])).await,
            Vec::<String>::new()
        );
    }
    let created_b = s.get_experiment(&b).await.unwrap().creation_time.unwrap();
    assert_eq!(
        names(
            s,
            &eq(
                &format!("creation_time >= {created_b}"),
                ViewType::ActiveOnly,
                &[]
            )
        )
        .await,
        vec!["banana"]
    );

    // Paging.
    let mut query = eq("", ViewType::All, &["name"]);
    query.max_results = 3;
    let p1 = s.search_experiments(&query).await.unwrap();
    assert_eq!(p1.items.len(), 3);
    query.page_token = p1.next_page_token.clone();
    assert!(query.page_token.is_some());
    let p2 = s.search_experiments(&query).await.unwrap();
    assert_eq!(
        p2.items.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
        by_name(&["cherry-pie"], &["Default"])
    );
    assert_eq!(p2.next_page_token, None);
    // Results carry tags.
    let apple = &p1.items[0];
    assert_eq!(apple.tags, vec![kv("kind", "fruit")]);

    assert_err(
        s.search_experiments(&SearchExperiments {
            max_results: 0,
            ..eq("", ViewType::All, &[])
        })
        .await,
        ErrorCode::InvalidParameterValue,
        "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer",
    );
    assert_err(
        s.search_experiments(&SearchExperiments {
            max_results: 50001,
            ..eq("", ViewType::All, &[])
        })
        .await,
        ErrorCode::InvalidParameterValue,
        "It must be at most 50000",
    );
    assert_err(
        s.search_experiments(&eq("experiment_id > '1'", ViewType::All, &[]))
            .await,
        ErrorCode::InvalidParameterValue,
        "Invalid comparator for experiment_id: >",
    );
    assert_err(
        s.search_experiments(&eq("experiment_id = 'x'", ViewType::All, &[]))
            .await,
        ErrorCode::InvalidParameterValue,
        "Invalid experiment ID 'x'. Experiment ID must be a valid integer.",
    );
    assert_err(
        s.search_experiments(&eq("creation_time > 1.5", ViewType::All, &[]))
            .await,
        ErrorCode::InvalidParameterValue,
        "Invalid value for numeric attribute 'creation_time': '1.5'",
    );
}
