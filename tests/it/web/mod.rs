//! The web side of the server: the front door, GraphiQL and the console's pages and files, CORS,
//! the sign-in limit, the API additions the console reads the log with, and the console itself
//! in a real browser.

mod browser;
mod cors;
mod log;
mod pages;
mod signin;
