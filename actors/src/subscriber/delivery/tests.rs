//! The live feed's coalescing, on batches made by hand.

use super::*;
use crate::event::StreamId;

fn batch(positions: &[Position]) -> CommittedBatch {
    let stream = StreamId::new("note", uuid::Uuid::new_v4());
    positions.iter().map(|&position| RecordedEvent::bare(stream.clone(), position, position, "Noted")).collect::<Vec<_>>().into()
}

fn positions(events: Option<Vec<RecordedEvent>>) -> Option<Vec<Position>> {
    events.map(|events| events.iter().map(|e| e.position).collect())
}

#[test]
fn queued_batches_are_taken_together_up_to_the_first_hole_and_a_hole_means_a_read_from_the_store() {
    let (feed, mut live) = broadcast::channel(16);
    feed.send(batch(&[7, 8])).expect("a receiver");
    assert_eq!(positions(coalesce(&batch(&[5, 6]), &mut live, 4)), Some(vec![5, 6, 7, 8]));

    // [5, 6] then [9] (an import published only its last event): 7 and 8 are in the store.
    feed.send(batch(&[9])).expect("a receiver");
    assert_eq!(positions(coalesce(&batch(&[5, 6]), &mut live, 4)), None);
    // A hole before the first batch, and what was applied already, too.
    assert_eq!(positions(coalesce(&batch(&[7]), &mut live, 4)), None);
    assert_eq!(positions(coalesce(&batch(&[3, 4, 5]), &mut live, 4)), Some(vec![5]));
    assert_eq!(positions(coalesce(&batch(&[3, 4]), &mut live, 4)), Some(vec![]));
}
