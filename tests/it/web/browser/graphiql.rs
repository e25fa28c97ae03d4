//! GraphiQL in a browser with nothing but this server: it renders its editor, opens with the
//! named example operation, runs it, and shows the answer.

use super::{click, eval, launch, open, wait};
use crate::api::harness::TestServer;

#[actix_rt::test]
async fn graphiql_renders_its_editor_and_runs_the_example_operation_without_internet() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    server.create_published_course(&teacher, 5, 2_500).await;
    let base = server.url("");
    actix_rt::task::spawn_blocking(move || {
        let Some(chromium) = launch() else { return };
        let tab = chromium.tab();
        open(&tab, &format!("{base}/graphiql"), "document.querySelector('.graphiql-container .CodeMirror')");
        let editor = wait(&tab, "document.querySelector('.graphiql-query-editor').innerText", "the query editor's text");
        assert!(editor.as_str().is_some_and(|text| text.contains("query Catalogue") && text.contains("Authorization")), "{editor}");
        click(&tab, ".graphiql-execute-button");
        let answer = wait(
            &tab,
            "(t => t.includes('Sourdough basics') && t)(document.querySelector('.graphiql-response').innerText)",
            "the answer to the example operation",
        );
        assert!(answer.as_str().is_some_and(|text| text.contains("\"totalCount\": 1")), "{answer}");
        assert_eq!(eval(&tab, "document.title"), "Konnektid · GraphiQL");
        chromium.screenshot(&tab, "graphiql");
        chromium.assert_nothing_left(&base);
        chromium.assert_no_problems();
    })
    .await
    .expect("the browser session ends");
}
