// A Lambda function as AWS's Node runtime runs it, for t/29-lambda.t:
// what its context says, or an error of its own when the event asks.
class CustomError extends Error {
    constructor(message) {
        super(message);
        this.name = 'CustomError';
    }
}

exports.handler = async (event, context) => {
    if (event.throw) {
        throw new CustomError(event.throw);
    }
    return {
        requestId: context.awsRequestId,
        remaining: context.getRemainingTimeInMillis(),
        functionName: context.functionName,
        memory: context.memoryLimitInMB,
        event,
    };
};
