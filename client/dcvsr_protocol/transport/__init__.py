"""Moving messages over a stream socket and pixels through shared memory."""
